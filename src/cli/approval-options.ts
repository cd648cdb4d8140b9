import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { ApprovalWebhookConfig } from '../server/index.js';
import { usageError } from './output.js';

/** The webhook flags, as commander parses them. */
export interface WebhookCliOptions {
  webhook?: string;
  webhookSecretEnv?: string;
  webhookSecretFile?: string;
}

/** Adds `--webhook URL` and where its secret comes from (never the command line itself). */
export function addWebhookOptions(cmd: Command): Command {
  return cmd
    .option('--webhook <url>', 'POST every new ask, signed with HMAC-SHA256, to this URL (https, or http to loopback)')
    .option('--webhook-secret-env <name>', 'the environment variable holding the webhook HMAC secret')
    .option('--webhook-secret-file <path>', 'a file holding the webhook HMAC secret');
}

/** The webhook the flags configure, or undefined; a URL without a secret is a usage error. */
export function webhookFrom(opts: WebhookCliOptions): ApprovalWebhookConfig | undefined {
  if (opts.webhook === undefined) {
    if (opts.webhookSecretEnv !== undefined || opts.webhookSecretFile !== undefined) {
      throw usageError('--webhook-secret-env/--webhook-secret-file without --webhook', 'Add --webhook URL, or drop the secret flag.');
    }
    return undefined;
  }
  if (opts.webhookSecretEnv !== undefined && opts.webhookSecretFile !== undefined) {
    throw usageError('--webhook-secret-env and --webhook-secret-file exclude each other', 'Pass one of them.');
  }
  if (opts.webhookSecretEnv !== undefined) {
    const v = process.env[opts.webhookSecretEnv];
    if (v === undefined || v === '') throw usageError(`--webhook-secret-env: $${opts.webhookSecretEnv} is not set`, 'Export the secret in that variable first.');
    return { url: opts.webhook, secret: v };
  }
  if (opts.webhookSecretFile !== undefined) return { url: opts.webhook, secret: readFileSync(opts.webhookSecretFile, 'utf8').trim() };
  throw usageError('--webhook needs --webhook-secret-env NAME or --webhook-secret-file PATH', 'The secret never goes on the command line, where other users can read it.');
}

/** Parses a port flag: 0-65535. */
export function portFrom(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65_535) throw usageError(`${flag}: ${JSON.stringify(value)} is not a port`, `Pass 0 for any free port, or 1-65535, e.g. ${flag} 7420.`);
  return port;
}
