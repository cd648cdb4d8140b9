/**
 * LLM usage parsing (Anthropic Messages, OpenAI Chat Completions and Responses; JSON and
 * server-sent events split at arbitrary points) and pricing.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import {
  costOf,
  endpointKind,
  priceFor,
  UsageCollector,
  type LlmEndpointKind,
  type LlmUsage,
} from '../../../src/egress/usage.js';

function collect(
  kind: LlmEndpointKind,
  contentType: string,
  body: string,
  splits: readonly number[] = [],
): LlmUsage | null {
  const c = new UsageCollector(kind, contentType);
  const bytes = Buffer.from(body);
  let last = 0;
  for (const at of [...splits].sort((a, b) => a - b)) {
    c.write(bytes.subarray(last, at));
    last = at;
  }
  c.write(bytes.subarray(last));
  return c.end();
}

const anthropicStream = [
  'event: message_start',
  'data: {"type":"message_start","message":{"model":"claude-sonnet-4-5","usage":{"input_tokens":1200,"output_tokens":1,"cache_read_input_tokens":300,"cache_creation_input_tokens":40}}}',
  '',
  'event: ping',
  'data: {"type": "ping"}',
  '',
  'event: content_block_delta',
  'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi ✓"}}',
  '',
  'event: message_delta',
  'data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":15}}',
  '',
  'event: message_delta',
  'data: {"type":"message_delta","delta":{},"usage":{"output_tokens":87}}',
  '',
  'event: message_stop',
  'data: {"type":"message_stop"}',
  '',
  '',
].join('\n');

const expectedAnthropic: LlmUsage = {
  model: 'claude-sonnet-4-5',
  inputTokens: 1200,
  outputTokens: 87,
  cacheReadTokens: 300,
  cacheWriteTokens: 40,
};

describe('[egress.llm-usage] UsageCollector', () => {
  it('reads Anthropic JSON usage', () => {
    const body = JSON.stringify({
      id: 'm',
      model: 'claude-haiku-4-5',
      usage: {
        input_tokens: 10,
        output_tokens: 20,
        cache_read_input_tokens: 3,
        cache_creation_input_tokens: 0,
      },
    });
    expect(collect('anthropic-messages', 'application/json', body)).toEqual({
      model: 'claude-haiku-4-5',
      inputTokens: 10,
      outputTokens: 20,
      cacheReadTokens: 3,
      cacheWriteTokens: 0,
    });
  });

  it('reads Anthropic streaming usage: input from message_start, the last cumulative output from message_delta', () => {
    expect(collect('anthropic-messages', 'text/event-stream; charset=utf-8', anthropicStream)).toEqual(
      expectedAnthropic,
    );
    expect(
      collect('anthropic-messages', 'text/event-stream', anthropicStream.replace(/\n/g, '\r\n')),
    ).toEqual(expectedAnthropic);
  });

  it('gives the same answer however the stream is split (property)', () => {
    const len = Buffer.byteLength(anthropicStream);
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: len - 1 }), { maxLength: 20 }), (splits) => {
        expect(collect('anthropic-messages', 'text/event-stream', anthropicStream, splits)).toEqual(
          expectedAnthropic,
        );
        expect(
          collect('anthropic-messages', 'text/event-stream', anthropicStream.replace(/\n/g, '\r\n'), splits),
        ).toEqual(expectedAnthropic);
      }),
      { numRuns: 500 },
    );
  });

  it('reads OpenAI Chat Completions usage (cached prompt tokens split out), JSON and stream', () => {
    const usage = {
      prompt_tokens: 500,
      completion_tokens: 60,
      total_tokens: 560,
      prompt_tokens_details: { cached_tokens: 128 },
    };
    const expected: LlmUsage = {
      model: 'gpt-5',
      inputTokens: 372,
      outputTokens: 60,
      cacheReadTokens: 128,
      cacheWriteTokens: 0,
    };
    expect(collect('openai-chat', 'application/json', JSON.stringify({ model: 'gpt-5', usage }))).toEqual(
      expected,
    );
    const stream = [
      `data: ${JSON.stringify({ model: 'gpt-5', choices: [{ delta: { content: 'a' } }], usage: null })}`,
      '',
      `data: ${JSON.stringify({ model: 'gpt-5', choices: [], usage })}`,
      '',
      'data: [DONE]',
      '',
      '',
    ].join('\n');
    expect(collect('openai-chat', 'text/event-stream', stream)).toEqual(expected);
  });

  it('reads OpenAI Responses usage, JSON and stream', () => {
    const usage = {
      input_tokens: 900,
      output_tokens: 45,
      input_tokens_details: { cached_tokens: 100 },
      output_tokens_details: { reasoning_tokens: 20 },
    };
    const expected: LlmUsage = {
      model: 'gpt-5-mini',
      inputTokens: 800,
      outputTokens: 45,
      cacheReadTokens: 100,
      cacheWriteTokens: 0,
    };
    expect(
      collect('openai-responses', 'application/json', JSON.stringify({ model: 'gpt-5-mini', usage })),
    ).toEqual(expected);
    const stream = [
      'event: response.created',
      `data: ${JSON.stringify({ type: 'response.created', response: { model: 'gpt-5-mini', usage: null } })}`,
      '',
      'event: response.completed',
      `data: ${JSON.stringify({ type: 'response.completed', response: { model: 'gpt-5-mini', usage } })}`,
      '',
    ].join('\n');
    expect(collect('openai-responses', 'text/event-stream', stream)).toEqual(expected);
  });

  it('returns null when there is no usage, and ignores nonsense values', () => {
    expect(collect('anthropic-messages', 'application/json', '<html>502</html>')).toBeNull();
    expect(collect('openai-chat', 'application/json', '{"error":{"message":"x"}}')).toBeNull();
    expect(
      collect('anthropic-messages', 'application/json', '{"usage":{"input_tokens":-5,"output_tokens":"9"}}'),
    ).toEqual({ model: null, inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0 });
  });
});

describe('endpoints and prices', () => {
  it('knows which paths carry usage', () => {
    expect(endpointKind('anthropic', '/v1/messages')).toBe('anthropic-messages');
    expect(endpointKind('anthropic', '/v1/messages/count_tokens')).toBeNull();
    expect(endpointKind('anthropic', '/v1/models')).toBeNull();
    expect(endpointKind('openai', '/v1/chat/completions')).toBe('openai-chat');
    expect(endpointKind('openai', '/openai/v1/responses')).toBe('openai-responses');
    expect(endpointKind('openai', '/v1/embeddings')).toBeNull();
  });

  it('[egress.llm-price] matches exact names, then the longest prefix*, then *', () => {
    const prices = {
      'claude-sonnet-4-5': { inputPerMTok: 3, outputPerMTok: 15 },
      'claude-*': { inputPerMTok: 1, outputPerMTok: 5 },
      'claude-opus-*': { inputPerMTok: 5, outputPerMTok: 25 },
      '*': { inputPerMTok: 100, outputPerMTok: 100 },
    };
    // Only the table's own keys: a model named like an Object method finds no price.
    expect(priceFor('constructor', { 'claude-*': { inputPerMTok: 1, outputPerMTok: 1 } })).toBeNull();
    expect(priceFor('toString', {})).toBeNull();
    expect(priceFor('claude-sonnet-4-5', prices)?.inputPerMTok).toBe(3);
    expect(priceFor('claude-opus-4-1', prices)?.inputPerMTok).toBe(5);
    expect(priceFor('claude-haiku-4-5', prices)?.inputPerMTok).toBe(1);
    expect(priceFor('gpt-5', prices)?.inputPerMTok).toBe(100);
    expect(priceFor(null, prices)?.inputPerMTok).toBe(100);
    expect(priceFor('gpt-5', { 'claude-*': { inputPerMTok: 1, outputPerMTok: 1 } })).toBeNull();
  });

  it('computes cost with cache prices defaulting to the input price', () => {
    const usage: LlmUsage = {
      model: 'm',
      inputTokens: 1_000_000,
      outputTokens: 100_000,
      cacheReadTokens: 1_000_000,
      cacheWriteTokens: 10_000,
    };
    expect(
      costOf(usage, { inputPerMTok: 3, outputPerMTok: 15, cacheReadPerMTok: 0.3, cacheWritePerMTok: 3.75 }),
    ).toBeCloseTo(3 + 1.5 + 0.3 + 0.0375, 10);
    expect(costOf(usage, { inputPerMTok: 2, outputPerMTok: 10 })).toBeCloseTo(2 + 1 + 2 + 0.02, 10);
  });
});
