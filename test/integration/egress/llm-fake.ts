/**
 * A fake of the Anthropic Messages and OpenAI Chat Completions / Responses endpoints,
 * streaming and not, with fixed usage numbers, for token and cost budget tests.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';

/** Usage each endpoint reports. */
export const FAKE_USAGE = {
  anthropic: { model: 'claude-test-1', input: 100, output: 50, cacheRead: 10, cacheWrite: 5 },
  chat: { model: 'gpt-test', prompt: 200, completion: 20, cached: 50 },
  responses: { model: 'gpt-test', input: 300, output: 30, cached: 0 },
} as const;

function sse(res: ServerResponse, events: Array<{ event?: string; data: unknown }>): void {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  // Written in small pieces so that events straddle chunk boundaries.
  const text = events
    .map(
      (e) =>
        `${e.event !== undefined ? `event: ${e.event}\n` : ''}data: ${typeof e.data === 'string' ? e.data : JSON.stringify(e.data)}\n\n`,
    )
    .join('');
  for (let i = 0; i < text.length; i += 37) res.write(text.slice(i, i + 37));
  res.end();
}

/** The request handler of the fake. */
export function llmHandler(req: IncomingMessage, res: ServerResponse, raw: string): void {
  {
    const body = (raw === '' ? {} : JSON.parse(raw)) as { stream?: boolean; model?: string };
    const a = FAKE_USAGE.anthropic;
    const c = FAKE_USAGE.chat;
    const r = FAKE_USAGE.responses;
    const model = body.model;
    switch (req.url ?? '') {
      case '/v1/messages':
        if (body.stream === true) {
          sse(res, [
            {
              event: 'message_start',
              data: {
                type: 'message_start',
                message: {
                  id: 'msg_1',
                  model: model ?? a.model,
                  usage: {
                    input_tokens: a.input,
                    output_tokens: 1,
                    cache_read_input_tokens: a.cacheRead,
                    cache_creation_input_tokens: a.cacheWrite,
                  },
                },
              },
            },
            {
              event: 'content_block_delta',
              data: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'hello' } },
            },
            {
              event: 'message_delta',
              data: {
                type: 'message_delta',
                delta: { stop_reason: 'end_turn' },
                usage: { output_tokens: a.output },
              },
            },
            { event: 'message_stop', data: { type: 'message_stop' } },
          ]);
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            id: 'msg_1',
            model: model ?? a.model,
            usage: {
              input_tokens: a.input,
              output_tokens: a.output,
              cache_read_input_tokens: a.cacheRead,
              cache_creation_input_tokens: a.cacheWrite,
            },
          }),
        );
        return;
      case '/v1/chat/completions':
        if (body.stream === true) {
          sse(res, [
            { data: { id: 'c1', model: c.model, choices: [{ delta: { content: 'hi' } }], usage: null } },
            {
              data: {
                id: 'c1',
                model: c.model,
                choices: [],
                usage: {
                  prompt_tokens: c.prompt,
                  completion_tokens: c.completion,
                  prompt_tokens_details: { cached_tokens: c.cached },
                },
              },
            },
            { data: '[DONE]' },
          ]);
          return;
        }
        {
          const json = JSON.stringify({
            id: 'c1',
            model: c.model,
            usage: {
              prompt_tokens: c.prompt,
              completion_tokens: c.completion,
              prompt_tokens_details: { cached_tokens: c.cached },
            },
          });
          // Compressed despite "Accept-Encoding: identity": the proxy must still read usage.
          res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
          res.end(gzipSync(json));
        }
        return;
      case '/v1/responses':
        sse(res, [
          {
            event: 'response.created',
            data: { type: 'response.created', response: { model: r.model, usage: null } },
          },
          { event: 'response.output_text.delta', data: { type: 'response.output_text.delta', delta: 'hi' } },
          {
            event: 'response.completed',
            data: {
              type: 'response.completed',
              response: {
                model: r.model,
                usage: {
                  input_tokens: r.input,
                  output_tokens: r.output,
                  input_tokens_details: { cached_tokens: r.cached },
                },
              },
            },
          },
        ]);
        return;
      default:
        res.writeHead(404);
        res.end();
    }
  }
}
