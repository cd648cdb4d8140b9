/**
 * Per-session budgets: requests, bytes each way, LLM tokens and cost.
 *
 * A budget is spent when its counter reaches the limit; from then on new requests get a
 * 429. Byte budgets are also enforced mid-transfer (the connection is cut), since a
 * single download can be as large as any number of requests. Token and cost budgets can
 * only be checked after a response reports its usage, so the response that crosses the
 * line completes and the next request is refused.
 */
import type { LlmUsage } from './usage.js';

/** The budgets a session can set. */
export interface EgressBudgets {
  /** Requests: each plain-HTTP request, each request inside an intercepted tunnel, each opaque tunnel. */
  readonly requests?: number;
  /** Bytes sent upstream (request bodies and tunnel payload). */
  readonly bytesUp?: number;
  /** Bytes received from upstream (response bodies and tunnel payload). */
  readonly bytesDown?: number;
  /** LLM input tokens, cache reads and writes included. */
  readonly inputTokens?: number;
  /** LLM output tokens. */
  readonly outputTokens?: number;
  /** LLM tokens of both kinds: input (cache included) plus output. */
  readonly tokens?: number;
  /** LLM cost in US dollars, from the price table. */
  readonly costUsd?: number;
}

/** The name of one budget. */
export type BudgetName = keyof EgressBudgets;

/** Every budget name, in the order they are checked. */
export const BUDGET_NAMES: readonly BudgetName[] = [
  'requests',
  'bytesUp',
  'bytesDown',
  'inputTokens',
  'outputTokens',
  'tokens',
  'costUsd',
];

/** What each budget counts. */
export const BUDGET_UNITS: Readonly<Record<BudgetName, 'requests' | 'bytes' | 'tokens' | 'USD'>> = {
  requests: 'requests',
  bytesUp: 'bytes',
  bytesDown: 'bytes',
  inputTokens: 'tokens',
  outputTokens: 'tokens',
  tokens: 'tokens',
  costUsd: 'USD',
};

/** A spent budget, as reported to the client and in events. */
export interface BudgetBreach {
  readonly budget: BudgetName;
  readonly limit: number;
  readonly used: number;
  /** Set when the cost could not be computed (a model without a price). */
  readonly unpriced?: string;
}

/** Counters and limits for one session. */
export class BudgetTracker {
  readonly #limits: EgressBudgets;
  readonly #onBreach: (breach: BudgetBreach) => void;
  readonly #reported = new Set<BudgetName>();
  readonly used: Record<BudgetName, number> = {
    requests: 0,
    bytesUp: 0,
    bytesDown: 0,
    inputTokens: 0,
    outputTokens: 0,
    tokens: 0,
    costUsd: 0,
  };
  #unpriced: string | null = null;

  /** `onBreach` is called once per budget, the first time it is spent. */
  constructor(limits: EgressBudgets, onBreach: (breach: BudgetBreach) => void) {
    this.#limits = limits;
    this.#onBreach = onBreach;
  }

  /** True when a token or cost budget is set, so LLM responses must be read. */
  get tracksLlm(): boolean {
    return (
      this.#limits.inputTokens !== undefined ||
      this.#limits.outputTokens !== undefined ||
      this.#limits.tokens !== undefined ||
      this.#limits.costUsd !== undefined
    );
  }

  /** True when a byte budget is set, so transfers must be counted as they flow. */
  get tracksBytes(): boolean {
    return this.#limits.bytesUp !== undefined || this.#limits.bytesDown !== undefined;
  }

  /** True when a cost budget is set. */
  get tracksCost(): boolean {
    return this.#limits.costUsd !== undefined;
  }

  /** The first spent budget, or null when a new request may start. */
  spent(): BudgetBreach | null {
    for (const name of BUDGET_NAMES) {
      const limit = this.#limits[name];
      if (limit === undefined) continue;
      if (name === 'costUsd' && this.#unpriced !== null) {
        return { budget: name, limit, used: this.used.costUsd, unpriced: this.#unpriced };
      }
      if (this.used[name] >= limit) return { budget: name, limit, used: this.used[name] };
    }
    return null;
  }

  /** Counts one request (checked beforehand with {@link spent}). */
  addRequest(): void {
    this.used.requests += 1;
  }

  /** Counts bytes sent upstream; returns false when the budget is now exceeded. */
  addBytesUp(n: number): boolean {
    this.used.bytesUp += n;
    return this.#withinBytes('bytesUp');
  }

  /** Counts bytes received; returns false when the budget is now exceeded. */
  addBytesDown(n: number): boolean {
    this.used.bytesDown += n;
    return this.#withinBytes('bytesDown');
  }

  /**
   * Counts an LLM response's usage. `cost` is null when the model has no price; with a
   * cost budget set that spends the budget, since an unknown cost cannot be bounded.
   */
  addUsage(usage: LlmUsage, cost: number | null): void {
    this.used.inputTokens += usage.inputTokens + usage.cacheReadTokens + usage.cacheWriteTokens;
    this.used.outputTokens += usage.outputTokens;
    this.used.tokens +=
      usage.inputTokens + usage.cacheReadTokens + usage.cacheWriteTokens + usage.outputTokens;
    if (cost !== null) this.used.costUsd += cost;
    else if (this.tracksCost && this.#unpriced === null) this.#unpriced = usage.model ?? '(no model named)';
    // The response that reaches a token or cost limit spends it: report it now.
    for (const name of ['inputTokens', 'outputTokens', 'tokens', 'costUsd'] as const) {
      const limit = this.#limits[name];
      if (limit === undefined) continue;
      const unpriced = name === 'costUsd' ? this.#unpriced : null;
      if (unpriced !== null) this.report({ budget: name, limit, used: this.used[name], unpriced });
      else if (this.used[name] >= limit) this.report({ budget: name, limit, used: this.used[name] });
    }
  }

  /** Reports a spent budget once (the first 429, cut or crossing of that budget). */
  report(breach: BudgetBreach): void {
    if (this.#reported.has(breach.budget)) return;
    this.#reported.add(breach.budget);
    this.#onBreach(breach);
  }

  #withinBytes(name: 'bytesUp' | 'bytesDown'): boolean {
    const limit = this.#limits[name];
    if (limit === undefined || this.used[name] <= limit) return true;
    this.report({ budget: name, limit, used: this.used[name] });
    return false;
  }

  /** The budgets that have been reported as spent. */
  get breached(): readonly BudgetName[] {
    return [...this.#reported];
  }
}
