/**
 * The approvals web page in real Chromium (playwright-core driving Debian's chromium):
 * the approve button approves the waiting ask, the rule button writes exactly the rule
 * shown, and text from the agent is shown as text, never run as HTML.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApprovalQueue } from '../../../src/approvals/index.js';
import type { ApprovalQueue } from '../../../src/approvals/index.js';
import { startApprovalServer } from '../../../src/server/index.js';
import type { ApprovalServer } from '../../../src/server/index.js';
import { argvAsk, isPending, tempStateDir } from '../../unit/approvals/helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available) {
   
  console.warn(`browser tests skipped: ${CHROMIUM} is missing (apt-get install -y chromium)`);
}

let state: ReturnType<typeof tempStateDir>;
let queue: ApprovalQueue;
let server: ApprovalServer;
let browser: BrowserContext;
let profile: string;

beforeAll(async () => {
  if (!available) return;
  state = tempStateDir('browser');
  queue = createApprovalQueue({ stateDir: state.dir, pollIntervalMs: 20 });
  server = await startApprovalServer({ queue, stateDir: state.dir });
  profile = mkdtempSync(join(tmpdir(), 'airlock-chromium-'));
  // A fresh profile directory (playwright passes it as --user-data-dir).
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
afterAll(async () => {
  if (!available) return;
  await browser?.close();
  await server.close();
  queue.close();
  state.cleanup();
  rmSync(profile, { recursive: true, force: true });
});

async function openPage(): Promise<Page> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('dialog', (d) => {
    errors.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  await page.goto(server.pageUrl);
  // the token leaves the address bar
  expect(page.url()).toBe(`${server.url}/`);
  (page as Page & { errors?: string[] }).errors = errors;
  return page;
}

describe.skipIf(!available)('the approvals web page in Chromium', () => {
  it('the approve button approves the waiting ask', async () => {
    const { id, decision } = queue.submit(argvAsk('s-web', ['git', 'push', 'origin', 'main']));
    const page = await openPage();
    const button = page.getByTestId(`approve-once-${id}`);
    await button.waitFor();
    await expect(page.locator(`[data-id="${id}"] pre`).textContent()).resolves.toContain('$ git push origin main');
    expect(await isPending(decision)).toBe(true);
    await button.click();
    const d = await decision;
    expect(d).toMatchObject({ approved: true, scope: 'once', by: 'token:local', channel: 'web' });
    await page.getByText(`approved ${id}`).waitFor();
    await page.close();
  });

  it('shows asks that arrive after the page opened, and denies with a reason', async () => {
    const page = await openPage();
    await page.getByText('Nothing is waiting for approval.').waitFor();
    const { id, decision } = queue.submit(argvAsk('s-web', ['curl', 'https://example.com']));
    await page.getByTestId(`deny-${id}`).waitFor();
    await page.getByTestId(`reason-${id}`).fill('not this host');
    await page.getByTestId(`deny-${id}`).click();
    expect(await decision).toMatchObject({ approved: false, status: 'denied', reason: 'not this host', channel: 'web' });
    await page.close();
  });

  it('writes the rule text it showed, only after the confirm button', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-web-policy-'));
    const policyFile = join(dir, 'airlock.yaml');
    writeFileSync(policyFile, 'version: 1\n');
    try {
      const { id, decision } = queue.submit(argvAsk('s-web', ['npm', 'test'], { policyFile }));
      const page = await openPage();
      await page.getByTestId(`approve-rule-${id}`).click();
      const shown = await page.getByTestId(`rule-text-${id}`).textContent();
      const r = queue.get(id);
      expect(r?.ruleProposal.ok && shown).toBe(r?.ruleProposal.ok ? r.ruleProposal.text : null);
      // nothing is written before the confirmation
      expect(readFileSync(policyFile, 'utf8')).toBe('version: 1\n');
      expect(await isPending(decision)).toBe(true);
      await page.getByTestId(`confirm-rule-${id}`).click();
      expect(await decision).toMatchObject({ approved: true, scope: 'rule', channel: 'web' });
      expect(readFileSync(policyFile, 'utf8')).toContain('      command: npm\n      subcommand: test\n');
      await page.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('shows hostile text as text: no markup, no script, escapes visible', async () => {
    const evil = ['echo', '<img src=x onerror=alert(1)><script>alert(2)</script>', '\u202egnp.exe', '\x1b[31mred'];
    const { id, decision } = queue.submit(argvAsk('s-web', evil));
    const page = await openPage();
    await page.getByTestId(`approve-once-${id}`).waitFor();
    const text = await page.locator(`[data-id="${id}"] pre`).textContent();
    expect(text).toContain("'<img src=x onerror=alert(1)><script>alert(2)</script>'");
    expect(text).toContain("$'\\u{202e}gnp.exe'");
    expect(text).toContain("$'\\e[31mred'");
    expect(await page.locator('img, script:not([src])').count()).toBe(0);
    expect((page as Page & { errors?: string[] }).errors).toEqual([]);
    queue.decide(id, { decision: 'deny', by: 'user:t', channel: 'terminal' });
    await decision;
    await page.close();
  });
});
