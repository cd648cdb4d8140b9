/**
 * What a real bwrap session redacts, through the SDK: the credentials the policy's
 * `network.credentials` resolve to on the host (an env secret injected as a header, a file
 * secret injected as basic auth) are known to the session's redactor before its first event,
 * so neither the value nor the base64 `user:secret` form the proxy sends reaches the audit
 * log, even when a command prints it in pieces or right where the output excerpt is cut. A
 * secret too short to redact stops the session. File reads and writes through the session are
 * recorded once each, with hashes and line counts.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession, isAirlockError, type Session } from '../../src/index.js';
import { loadPolicy } from '../../src/policy/index.js';
import { auditPaths } from '../../src/audit/index.js';
import type { AirlockEvent } from '../../src/events/index.js';
import { cleanupTemp, tempDir } from '../helpers/index.js';

const HEADER_SECRET = `hdr-${randomBytes(16).toString('hex')}`;
const BASIC_SECRET = `bas-${randomBytes(16).toString('hex')}`;
const BASIC_FORM = Buffer.from(`x-access-token:${BASIC_SECRET}`).toString('base64');
const SECRET_ENV = 'AIRLOCK_TEST_REDACT_SESSION_SECRET';
const SHORT_ENV = 'AIRLOCK_TEST_REDACT_SHORT_SECRET';

let session: Session;
let stateDir: string;
const events: AirlockEvent[] = [];

function policyFile(secretRef: string, basicFile: string): string {
  const file = join(tempDir('redact-pol'), 'airlock.yaml');
  writeFileSync(
    file,
    `version: 1
exec: { default: allow }
files:
  read: ['/workspace/**']
  write: ['/workspace/**']
network:
  default: deny
  credentials:
    - { id: api, hosts: [api.example.test], secret: '${secretRef}', inject: { header: authorization, format: 'Bearer {secret}' } }
    - { id: git, hosts: [git.example.test], secret: 'file:${basicFile}', inject: { basic: { username: x-access-token } } }
`,
  );
  return file;
}

function auditLog(s: Session): string {
  return readFileSync(join(auditPaths(stateDir).sessions, `${s.id}.jsonl`), 'utf8');
}

beforeAll(async () => {
  process.env[SECRET_ENV] = HEADER_SECRET;
  process.env[SHORT_ENV] = 'short12';
  stateDir = tempDir('redact-state');
  const basicFile = join(tempDir('redact-sec'), 'token');
  writeFileSync(basicFile, `${BASIC_SECRET}\n`, { mode: 0o600 });
  session = await createSession({
    workspace: tempDir('redact-ws'),
    stateDir,
    policy: loadPolicy({ path: policyFile(`env:${SECRET_ENV}`, basicFile) }),
    workspaceMode: 'direct',
  });
  session.events.subscribe((e) => events.push(e));
});

afterAll(async () => {
  await session.destroy();
  Reflect.deleteProperty(process.env, SECRET_ENV);
  Reflect.deleteProperty(process.env, SHORT_ENV);
  cleanupTemp();
});

function finished(execId: string | undefined): Extract<AirlockEvent, { type: 'exec.finished' }>['data'] {
  const e = events.find((x) => x.type === 'exec.finished' && x.data.execId === execId);
  if (e?.type !== 'exec.finished') throw new Error(`no exec.finished for ${String(execId)}`);
  return e.data;
}

function lastExecId(): string | undefined {
  const e = events.filter((x) => x.type === 'exec.started').pop();
  return e?.type === 'exec.started' ? e.data.execId : undefined;
}

describe('the session redactor knows the credential broker secrets', () => {
  it('redact.credential-values: the header and basic-auth secrets (and the base64 form) never reach the audit log', async () => {
    expect(session.redactor.redact(`Bearer ${HEADER_SECRET}`)).toBe('Bearer [REDACTED:secret]');
    expect(session.redactor.redact(`Basic ${BASIC_FORM}`)).not.toContain(BASIC_FORM);
    // The command line itself carries the values (policy.decision, exec.started) and so does its output.
    const r = await session.exec(['sh', '-c', 'printf "%s\\n" "$1" "$2" "$3"', 'x', HEADER_SECRET, BASIC_SECRET, BASIC_FORM]);
    expect(r.exitCode).toBe(0);
    // The SDK returns the sandbox's bytes as they are: the host program is the caller.
    expect(r.stdout).toContain(HEADER_SECRET);
    const excerpt = finished(lastExecId()).excerpt;
    expect(excerpt).toBe('[REDACTED:secret]\n[REDACTED:secret]\n[REDACTED:secret]\n');
    await session.exec(['true']);
    const log = auditLog(session);
    expect(log).not.toContain(HEADER_SECRET);
    expect(log).not.toContain(BASIC_SECRET);
    expect(log).not.toContain(BASIC_FORM);
    expect(log).toContain('[REDACTED:secret]');
  });

  it('redact.stream-split: a secret printed in two writes, apart in time, is redacted whole in the excerpt', async () => {
    const half = HEADER_SECRET.length >> 1;
    await session.exec(['sh', '-c', 'printf %s "$1"; sleep 0.3; printf "%s done\\n" "$2"', 'x', HEADER_SECRET.slice(0, half), HEADER_SECRET.slice(half)]);
    const excerpt = finished(lastExecId()).excerpt;
    expect(excerpt).toBe('[REDACTED:secret] done\n');
  });

  it('redact.exec-excerpt: a secret where the excerpt is cut leaves no prefix in it', async () => {
    // 2040 characters of output, then the secret across the 2048-character cut.
    await session.exec(['sh', '-c', 'head -c 2040 /dev/zero | tr "\\000" a; printf "%s\\n" "$1"', 'x', HEADER_SECRET]);
    const data = finished(lastExecId());
    expect(data.excerptTruncated).toBe(true);
    expect(data.excerpt.length).toBe(2048);
    expect(data.excerpt).not.toContain(HEADER_SECRET.slice(0, 8));
    expect(data.excerpt.startsWith('a'.repeat(2040))).toBe(true);
  });

  it('redact.short-secret: a credential too short to redact stops the session, naming the credential and not its value', async () => {
    let caught: unknown;
    const withFile = join(tempDir('redact-sec3'), 'token');
    writeFileSync(withFile, `${BASIC_SECRET}\n`);
    try {
      const s = await createSession({
        workspace: tempDir('redact-ws-short2'),
        stateDir,
        policy: loadPolicy({ path: policyFile(`env:${SHORT_ENV}`, withFile) }),
        workspaceMode: 'direct',
      });
      await s.destroy();
    } catch (err) {
      caught = err;
    }
    expect(isAirlockError(caught) && caught.code).toBe('E_REDACT_INVALID');
    expect((caught as Error).message).toBe(
      'network.credentials[0] ("api"): its secret is 7 characters long, shorter than the 8 the session can redact safely, so the session was not started',
    );
    expect(JSON.stringify(caught)).not.toContain('short12');
  });
});

describe('file events from the session', () => {
  it('audit.file-events: readFile and writeFile record one file.read / file.write each, with hashes and line counts', async () => {
    const before = events.length;
    await session.writeFile('notes.txt', 'one\ntwo\nthree\n');
    await session.writeFile('notes.txt', 'one\n2\nthree\nfour\n');
    const read = await session.readFile('notes.txt');
    await session.writeFile('blob.bin', Buffer.from([0, 1, 2, 3]));
    const fileEvents = events.slice(before).filter((e) => e.type === 'file.read' || e.type === 'file.write');
    const sha = (t: string | Buffer): string => createHashHex(t);
    expect(fileEvents.map((e) => e.type)).toEqual(['file.write', 'file.write', 'file.read', 'file.write']);
    expect(fileEvents[0]?.data).toEqual({ path: '/workspace/notes.txt', size: 14, sha256: sha('one\ntwo\nthree\n'), previousSha256: null, linesAdded: 3, linesRemoved: 0 });
    expect(fileEvents[1]?.data).toEqual({
      path: '/workspace/notes.txt',
      size: 17,
      sha256: sha('one\n2\nthree\nfour\n'),
      previousSha256: sha('one\ntwo\nthree\n'),
      previousSize: 14,
      linesAdded: 2,
      linesRemoved: 1,
    });
    expect(fileEvents[2]?.data).toEqual({ path: '/workspace/notes.txt', size: read.content.length, sha256: sha(read.content) });
    expect(fileEvents[3]?.data).toMatchObject({ path: '/workspace/blob.bin', size: 4, previousSha256: null, note: 'binary content: lines not counted' });
    // The write helper reads the content it replaces for the record; none of it is kept in an excerpt.
    const excerpts = events.slice(before).flatMap((e) => (e.type === 'exec.finished' ? [e.data.excerpt] : []));
    expect(excerpts.some((x) => x.includes('four'))).toBe(true); // the readFile's excerpt
    expect(excerpts.some((x) => x.includes('two'))).toBe(false); // only the replaced content had it
  });

  it('audit.file-events: a write through a symlink name replaces the link and reports no previous file', async () => {
    await session.exec(['ln', '-sf', '/etc/hostname', '/workspace/link.txt']);
    const before = events.length;
    await session.writeFile('link.txt', 'new\n');
    const w = events.slice(before).find((e) => e.type === 'file.write');
    expect(w?.data).toMatchObject({ path: '/workspace/link.txt', previousSha256: null, linesAdded: 1, linesRemoved: 0 });
  });
});

function createHashHex(t: string | Buffer): string {
  return createHash('sha256').update(t).digest('hex');
}
