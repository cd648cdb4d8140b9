/**
 * Token usage read from LLM API responses, for token and cost budgets.
 *
 * Supported: Anthropic Messages (`/v1/messages`), OpenAI Chat Completions
 * (`/chat/completions`) and OpenAI Responses (`/responses`), both as one JSON body and as
 * server-sent events. Streaming usage arrives in pieces (Anthropic sends input tokens in
 * `message_start` and a running output count in `message_delta`); the collector keeps the
 * largest value seen for each field, since every report is cumulative.
 */

/** Which wire format an endpoint speaks. */
export type LlmApi = 'anthropic' | 'openai';

/** The endpoint kinds whose responses carry usage. */
export type LlmEndpointKind = 'anthropic-messages' | 'openai-chat' | 'openai-responses';

/** Tokens reported by one response. Input excludes cache reads and writes. */
export interface LlmUsage {
  readonly model: string | null;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cacheReadTokens: number;
  readonly cacheWriteTokens: number;
}

/** Prices in US dollars per million tokens. */
export interface ModelPrice {
  readonly inputPerMTok: number;
  readonly outputPerMTok: number;
  /** Default: the input price. */
  readonly cacheReadPerMTok?: number;
  /** Default: the input price. */
  readonly cacheWritePerMTok?: number;
}

/** The endpoint kind of a request path for an API, or null when it carries no usage. */
export function endpointKind(api: LlmApi, path: string): LlmEndpointKind | null {
  if (api === 'anthropic') return /\/messages$/.test(path) ? 'anthropic-messages' : null;
  if (/\/chat\/completions$/.test(path)) return 'openai-chat';
  if (/\/responses$/.test(path)) return 'openai-responses';
  return null;
}

/**
 * Finds the price of a model: an exact key first, then the longest key ending in `*`
 * that prefixes the model (`claude-sonnet-4*`), then `*` itself.
 */
export function priceFor(
  model: string | null,
  prices: Readonly<Record<string, ModelPrice>>,
): ModelPrice | null {
  // Own keys only: a model the response names "constructor" must not find Object's.
  const own = (key: string): ModelPrice | null => (Object.hasOwn(prices, key) ? (prices[key] ?? null) : null);
  if (model !== null) {
    const exact = own(model);
    if (exact !== null) return exact;
    let best: { len: number; price: ModelPrice } | null = null;
    for (const [key, price] of Object.entries(prices)) {
      if (key.length > 1 && key.endsWith('*') && model.startsWith(key.slice(0, -1))) {
        if (best === null || key.length > best.len) best = { len: key.length, price };
      }
    }
    if (best !== null) return best.price;
  }
  return own('*');
}

/** The cost of `usage` at `price`, in US dollars. */
export function costOf(usage: LlmUsage, price: ModelPrice): number {
  return (
    (usage.inputTokens * price.inputPerMTok +
      usage.outputTokens * price.outputPerMTok +
      usage.cacheReadTokens * (price.cacheReadPerMTok ?? price.inputPerMTok) +
      usage.cacheWriteTokens * (price.cacheWritePerMTok ?? price.inputPerMTok)) /
    1_000_000
  );
}

/** The most of a JSON (non-streaming) body that is buffered to read usage. */
export const MAX_USAGE_BODY_BYTES = 16 * 1024 * 1024;

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0;
}

function obj(v: unknown): Record<string, unknown> | null {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

/** Accumulates usage from a response body, fed chunk by chunk. */
export class UsageCollector {
  readonly #kind: LlmEndpointKind;
  readonly #streaming: boolean;
  #model: string | null = null;
  #input = 0;
  #output = 0;
  #cacheRead = 0;
  #cacheWrite = 0;
  #seen = false;
  #overflow = false;
  #chunks: Buffer[] = [];
  #size = 0;
  #lineBuf = '';
  #dataLines: string[] = [];
  readonly #decoder = new TextDecoder();

  /** `contentType` decides between the JSON and the event-stream reader. */
  constructor(kind: LlmEndpointKind, contentType: string | undefined) {
    this.#kind = kind;
    this.#streaming = (contentType ?? '').toLowerCase().includes('text/event-stream');
  }

  /** Feeds response body bytes (after any content decoding). */
  write(chunk: Buffer): void {
    if (this.#streaming) {
      this.#feedSse(this.#decoder.decode(chunk, { stream: true }));
      return;
    }
    if (this.#overflow) return;
    this.#size += chunk.length;
    if (this.#size > MAX_USAGE_BODY_BYTES) {
      this.#overflow = true;
      this.#chunks = [];
      return;
    }
    this.#chunks.push(chunk);
  }

  /** Ends the body; returns the usage, or null when the response carried none. */
  end(): LlmUsage | null {
    if (this.#streaming) {
      this.#feedSse(`${this.#decoder.decode()}\n\n`);
    } else if (!this.#overflow) {
      try {
        this.#take(JSON.parse(Buffer.concat(this.#chunks).toString('utf8')), false);
      } catch {
        // Not JSON (an HTML error page, a truncated body): no usage to read.
      }
    }
    if (!this.#seen) return null;
    return {
      model: this.#model,
      inputTokens: this.#input,
      outputTokens: this.#output,
      cacheReadTokens: this.#cacheRead,
      cacheWriteTokens: this.#cacheWrite,
    };
  }

  #feedSse(text: string): void {
    this.#lineBuf += text;
    let nl: number;
    // A lone CR at the very end may be the first half of a CRLF split across chunks.
    while ((nl = this.#lineBuf.search(/\r\n|\n|\r(?!$)/)) >= 0) {
      const line = this.#lineBuf.slice(0, nl);
      const sepLen = this.#lineBuf.startsWith('\r\n', nl) ? 2 : 1;
      this.#lineBuf = this.#lineBuf.slice(nl + sepLen);
      if (line === '') {
        this.#dispatch();
      } else if (line.startsWith('data:')) {
        this.#dataLines.push(line.slice(line.startsWith('data: ') ? 6 : 5));
      }
    }
    // A single SSE line has no business being megabytes long; drop it rather than grow.
    if (this.#lineBuf.length > MAX_USAGE_BODY_BYTES) this.#lineBuf = '';
  }

  #dispatch(): void {
    if (this.#dataLines.length === 0) return;
    const data = this.#dataLines.join('\n');
    this.#dataLines = [];
    if (data === '[DONE]') return;
    try {
      this.#take(JSON.parse(data), true);
    } catch {
      // A non-JSON event (a comment, a keep-alive) carries no usage.
    }
  }

  #take(value: unknown, streaming: boolean): void {
    const body = obj(value);
    if (body === null) return;
    switch (this.#kind) {
      case 'anthropic-messages': {
        // Stream: message_start carries {message: {model, usage}}; message_delta carries {usage}.
        const message = streaming ? obj(body.message) : body;
        if (message !== null) this.#setModel(message.model);
        const usage = obj(streaming ? (message?.usage ?? body.usage) : body.usage);
        if (usage === null) return;
        this.#record(
          num(usage.input_tokens),
          num(usage.output_tokens),
          num(usage.cache_read_input_tokens),
          num(usage.cache_creation_input_tokens),
        );
        return;
      }
      case 'openai-chat': {
        this.#setModel(body.model);
        const usage = obj(body.usage);
        if (usage === null) return;
        const cached = num(obj(usage.prompt_tokens_details)?.cached_tokens);
        this.#record(Math.max(0, num(usage.prompt_tokens) - cached), num(usage.completion_tokens), cached, 0);
        return;
      }
      case 'openai-responses': {
        // Stream: response.completed / .incomplete / .failed carry {response: {model, usage}}.
        const response = streaming ? obj(body.response) : body;
        if (response === null) return;
        this.#setModel(response.model);
        const usage = obj(response.usage);
        if (usage === null) return;
        const cached = num(obj(usage.input_tokens_details)?.cached_tokens);
        this.#record(Math.max(0, num(usage.input_tokens) - cached), num(usage.output_tokens), cached, 0);
        return;
      }
    }
  }

  #setModel(model: unknown): void {
    if (typeof model === 'string' && model !== '') this.#model = model.slice(0, 200);
  }

  #record(input: number, output: number, cacheRead: number, cacheWrite: number): void {
    this.#seen = true;
    this.#input = Math.max(this.#input, input);
    this.#output = Math.max(this.#output, output);
    this.#cacheRead = Math.max(this.#cacheRead, cacheRead);
    this.#cacheWrite = Math.max(this.#cacheWrite, cacheWrite);
  }
}
