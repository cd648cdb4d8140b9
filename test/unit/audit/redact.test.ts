import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createRedactor,
  MIN_SECRET_LENGTH,
  PATTERN_PREFILTER,
  SECRET_PATTERNS,
} from '../../../src/redact/index.js';
import type { RedactionKind } from '../../../src/redact/index.js';
import { isAirlockError } from '../../../src/errors/index.js';

// Tokens are assembled at run time so that no credential-shaped literal sits in the source.
const ALNUM = 'aB3dE5fG7hJ9kL1mN2pQ4rS6tU8vW0xYz';
function run(n: number, alphabet = ALNUM): string {
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet.charAt((i * 7 + 3) % alphabet.length);
  return s;
}
function b64url(s: string): string {
  return Buffer.from(s).toString('base64url');
}

const ed25519Pem = generateKeyPairSync('ed25519')
  .privateKey.export({ format: 'pem', type: 'pkcs8' })
  .toString();

/** One example per kind: the text, the secret that must vanish, and what must remain. */
const CASES: { kind: RedactionKind; text: string; secret: string; expected: string }[] = [
  {
    kind: 'aws-access-key-id',
    secret: ['AKIA', 'IOSFODNN7EXAMPLE'].join(''),
    text: `export AWS_ACCESS_KEY_ID=${['AKIA', 'IOSFODNN7EXAMPLE'].join('')}\n`,
    expected: 'export AWS_ACCESS_KEY_ID=[REDACTED:aws-access-key-id]\n',
  },
  {
    kind: 'aws-secret-access-key',
    secret: ['wJalrXUtnFEMI', '/K7MDENG/bPxRfiCYEXAMPLEKEY'].join(''),
    text: `aws_secret_access_key = ${['wJalrXUtnFEMI', '/K7MDENG/bPxRfiCYEXAMPLEKEY'].join('')}\nregion = x`,
    expected: 'aws_secret_access_key = [REDACTED:aws-secret-access-key]\nregion = x',
  },
  {
    kind: 'github-token',
    secret: `ghp_${run(36)}`,
    text: `token: ghp_${run(36)} ok`,
    expected: 'token: [REDACTED:github-token] ok',
  },
  {
    kind: 'github-token',
    secret: `github_pat_${run(82, `${ALNUM}_`)}`,
    text: `GH_TOKEN=github_pat_${run(82, `${ALNUM}_`)}`,
    expected: 'GH_TOKEN=[REDACTED:github-token]',
  },
  {
    kind: 'anthropic-key',
    secret: `sk-ant-api03-${run(93, `${ALNUM}-_`)}`,
    text: `x-api-key: sk-ant-api03-${run(93, `${ALNUM}-_`)}\n`,
    expected: 'x-api-key: [REDACTED:anthropic-key]\n',
  },
  {
    kind: 'openai-key',
    secret: `sk-proj-${run(120, `${ALNUM}-_`)}`,
    text: `OPENAI_API_KEY="sk-proj-${run(120, `${ALNUM}-_`)}"`,
    expected: 'OPENAI_API_KEY="[REDACTED:openai-key]"',
  },
  {
    kind: 'openai-key',
    secret: `sk-${run(48)}`,
    text: `key sk-${run(48)}.`,
    expected: 'key [REDACTED:openai-key].',
  },
  {
    kind: 'slack-token',
    secret: ['xoxb', '-1234567890-1234567890123-', run(24)].join(''),
    text: `SLACK_BOT_TOKEN=${['xoxb', '-1234567890-1234567890123-', run(24)].join('')}`,
    expected: 'SLACK_BOT_TOKEN=[REDACTED:slack-token]',
  },
  {
    kind: 'slack-webhook',
    secret: ['https://hooks.slack.com', '/services/T00000000/B00000000/', run(24)].join(''),
    text: `curl -X POST ${['https://hooks.slack.com', '/services/T00000000/B00000000/', run(24)].join('')} -d @msg.json`,
    expected: 'curl -X POST [REDACTED:slack-webhook] -d @msg.json',
  },
  {
    kind: 'stripe-key',
    secret: ['sk', '_live_', run(24)].join(''),
    text: `stripe.api_key = '${['sk', '_live_', run(24)].join('')}'`,
    expected: "stripe.api_key = '[REDACTED:stripe-key]'",
  },
  {
    kind: 'stripe-key',
    secret: ['whsec', '_', run(32)].join(''),
    text: `STRIPE_WEBHOOK_SECRET=${['whsec', '_', run(32)].join('')}`,
    expected: 'STRIPE_WEBHOOK_SECRET=[REDACTED:stripe-key]',
  },
  {
    kind: 'private-key',
    secret: ed25519Pem.split('\n')[1] ?? 'missing',
    text: `cat key.pem\n${ed25519Pem}done\n`,
    expected: 'cat key.pem\n[REDACTED:private-key]\ndone\n',
  },
  {
    kind: 'private-key',
    secret: run(64, `${ALNUM}+/`),
    text: `-----BEGIN OPENSSH PRIVATE KEY-----\n${run(64, `${ALNUM}+/`)}\n-----END OPENSSH PRIVATE KEY-----`,
    expected: '[REDACTED:private-key]',
  },
  {
    kind: 'jwt',
    secret: `${b64url('{"alg":"HS256","typ":"JWT"}')}.${b64url('{"sub":"1234567890","name":"x"}')}.${run(43, `${ALNUM}-_`)}`,
    text: `Cookie: session=${b64url('{"alg":"HS256","typ":"JWT"}')}.${b64url('{"sub":"1234567890","name":"x"}')}.${run(43, `${ALNUM}-_`)}; Path=/`,
    expected: 'Cookie: session=[REDACTED:jwt]; Path=/',
  },
  {
    kind: 'url-password',
    secret: 's3cr3t-Pa55word',
    text: 'DATABASE_URL=postgres://admin:s3cr3t-Pa55word@db.internal:5432/app',
    expected: 'DATABASE_URL=postgres://admin:[REDACTED:url-password]@db.internal:5432/app',
  },
  {
    kind: 'authorization-header',
    secret: run(40, `${ALNUM}._-`),
    text: `> Authorization: Bearer ${run(40, `${ALNUM}._-`)}\n> Accept: */*`,
    expected: '> Authorization: [REDACTED:authorization-header]\n> Accept: */*'.replace(
      '[REDACTED',
      'Bearer [REDACTED',
    ),
  },
];

describe('redact.patterns: createRedactor', () => {
  const redactor = createRedactor();
  for (const c of CASES) {
    it(`redacts ${c.kind}: ${c.expected.slice(0, 40)}`, () => {
      const out = redactor.redact(c.text);
      expect(out).toBe(c.expected);
      expect(out).not.toContain(c.secret);
      expect(redactor.scan(c.text).map((m) => m.kind)).toContain(c.kind);
    });
  }

  it('redacts a private key block cut off before its END line (a truncated excerpt)', () => {
    const truncated = `before\n${ed25519Pem.slice(0, 50)}`;
    expect(redactor.redact(truncated)).toBe('before\n[REDACTED:private-key]');
  });

  it('leaves ordinary text alone', () => {
    const ordinary = [
      'git commit -m "fix the desk-lamp"',
      'pip install scikit-learn sk-learn',
      'sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
      'id 123e4567-e89b-12d3-a456-426614174000',
      'https://example.com/path?q=1@2',
      'user@example.com wrote: eyJ is how JSON starts in base64',
      'Authorization: required',
    ].join('\n');
    expect(redactor.redact(ordinary)).toBe(ordinary);
  });
});

describe('redact.known-secrets: createRedactor', () => {
  it('redacts every occurrence, and the percent-encoded form', () => {
    const r = createRedactor({ secrets: ['correct horse battery staple'], patterns: false });
    const text =
      'pw=correct horse battery staple; url=?p=correct%20horse%20battery%20staple; again correct horse battery staple';
    expect(r.redact(text)).toBe('pw=[REDACTED:secret]; url=?p=[REDACTED:secret]; again [REDACTED:secret]');
  });

  it('replaces the longer of two overlapping secrets whole', () => {
    const r = createRedactor({ secrets: ['abcdefgh', 'abcdefghijkl'], patterns: false });
    expect(r.redact('xxabcdefghijklxx abcdefgh')).toBe('xx[REDACTED:secret]xx [REDACTED:secret]');
  });

  it('learns secrets added later', () => {
    const r = createRedactor({ patterns: false });
    expect(r.redact('token=late-secret-1')).toBe('token=late-secret-1');
    r.addSecrets(['late-secret-1']);
    expect(r.redact('token=late-secret-1')).toBe('token=[REDACTED:secret]');
  });

  it('redact.short-secret: refuses a secret too short to redact without shredding the text', () => {
    let caught: unknown;
    try {
      createRedactor({ secrets: ['ok-secret', 'abcdefg'] });
    } catch (err) {
      caught = err;
    }
    expect(isAirlockError(caught) && caught.code).toBe('E_REDACT_INVALID');
    expect((caught as Error).message).toBe(
      `secrets[1]: a secret of 7 characters cannot be redacted safely; secrets must be strings of at least ${MIN_SECRET_LENGTH} characters.`,
    );
  });

  it('redacts strings and keys deep inside JSON values, and keeps unchanged values identical', () => {
    const r = createRedactor({ secrets: ['tok-123456'] });
    const clean = { a: [1, 'x', { b: null }] };
    expect(r.redactValue(clean)).toBe(clean);
    expect(
      r.redactValue({ env: { API: 'tok-123456' }, argv: ['curl', '-H', 'X: tok-123456'], 'tok-123456': 1 }),
    ).toEqual({
      env: { API: '[REDACTED:secret]' },
      argv: ['curl', '-H', 'X: [REDACTED:secret]'],
      '[REDACTED:secret]': 1,
    });
  });
});

function streamAll(r: ReturnType<typeof createRedactor>, chunks: readonly string[]): string {
  const s = r.stream();
  let out = '';
  for (const c of chunks) out += s.push(c);
  return out + s.end();
}

describe('redact.stream-split: secrets split across chunks', () => {
  const knownSecret = 'Sup3r-Secret-Value-42';
  const redactor = createRedactor({ secrets: [knownSecret] });
  const examples = [
    ...CASES.map((c) => ({ name: c.kind, text: `line one\n${c.text}\nline three\n`, secret: c.secret })),
    { name: 'secret', text: `echo ${knownSecret} and ${knownSecret}\n`, secret: knownSecret },
  ];

  for (const ex of examples) {
    it(`${ex.name}: every two-chunk split gives the same output as the whole text`, () => {
      const whole = redactor.redact(ex.text);
      expect(whole).not.toContain(ex.secret);
      for (let i = 0; i <= ex.text.length; i++) {
        const out = streamAll(redactor, [ex.text.slice(0, i), ex.text.slice(i)]);
        if (out !== whole) expect.fail(`split at ${i}: ${JSON.stringify(out)}`);
      }
    });
  }

  it('random chunkings of every kind at once never leak and match whole-text redaction', () => {
    const text = examples.map((e) => e.text).join('');
    const whole = redactor.redact(text);
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: text.length - 1 }), { maxLength: 40 }), (cuts) => {
        const points = [0, ...cuts.sort((a, b) => a - b), text.length];
        const chunks = points.slice(1).map((p, i) => text.slice(points[i], p));
        const out = streamAll(redactor, chunks);
        for (const e of examples) expect(out).not.toContain(e.secret);
        expect(out).toBe(whole);
      }),
      { numRuns: 300 },
    );
  });

  it('one character at a time', () => {
    const text = examples.map((e) => e.text).join('');
    // UTF-16 units, the finest split a stream can see.
    expect(
      streamAll(
        redactor,
        Array.from({ length: text.length }, (_, i) => text.charAt(i)),
      ),
    ).toBe(redactor.redact(text));
  });

  it('passes text on without waiting for the end when it cannot be part of a secret', () => {
    const s = redactor.stream();
    const first = s.push('hello world, this is ordinary output that goes on for a while\n'.repeat(10));
    expect(first.length).toBeGreaterThan(0);
    expect(s.pending).toBeLessThanOrEqual(redactor.holdback);
  });

  it('bounds what it holds for a long run without whitespace', () => {
    const s = redactor.stream();
    let out = '';
    for (let i = 0; i < 200; i++) out += s.push('A'.repeat(1000));
    expect(s.pending).toBeLessThanOrEqual(64 * 1024 + 1000);
    out += s.end();
    expect(out).toBe('A'.repeat(200_000));
  });

  it('drops an endless private key block streamed in small pieces, then carries on', () => {
    const body = Array.from({ length: 2000 }, (_, i) => run(64, `${ALNUM}+/`).slice(i % 7) + String(i)).join(
      '\n',
    );
    const text = `start\n-----BEGIN RSA PRIVATE KEY-----\n${body}\n-----END RSA PRIVATE KEY-----\nafter the key\n`;
    const chunks: string[] = [];
    for (let i = 0; i < text.length; i += 333) chunks.push(text.slice(i, i + 333));
    const out = streamAll(redactor, chunks);
    expect(out).toBe('start\n[REDACTED:private-key]\nafter the key\n');
  });
});

describe('stream redactor: a token that never ends', () => {
  it('redacts it without holding it all, and resumes after the next whitespace', () => {
    const redactor = createRedactor();
    const s = redactor.stream();
    let out = s.push('out: sk-');
    for (let i = 0; i < 100; i++) out += s.push(run(1000));
    expect(s.pending).toBeLessThanOrEqual(64 * 1024 + 1000);
    out += s.push(`${run(10)} after\n`);
    out += s.end();
    expect(out).toBe('out: [REDACTED:openai-key] after\n');
  });
});

describe('the pattern prefilter', () => {
  it('lets every example of every pattern through (it must stay a superset)', () => {
    for (const c of CASES) expect(PATTERN_PREFILTER.test(c.text), c.kind).toBe(true);
    for (const p of SECRET_PATTERNS)
      expect(
        CASES.some((c) => c.kind === p.kind),
        `a CASES example for ${p.kind}`,
      ).toBe(true);
  });
});
