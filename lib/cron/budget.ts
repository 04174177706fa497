/**
 * A run's time budget. `clock` is injectable so tests move time instead of sleeping.
 */
export class Budget {
  readonly totalMs: number;
  readonly startedAt: number;
  readonly deadline: number;
  private readonly clock: () => number;

  constructor(totalMs: number, clock: () => number = Date.now) {
    this.clock = clock;
    this.totalMs = totalMs;
    this.startedAt = clock();
    this.deadline = this.startedAt + totalMs;
  }

  elapsedMs(): number {
    return this.clock() - this.startedAt;
  }

  remainingMs(): number {
    return Math.max(0, this.deadline - this.clock());
  }

  /** True when work whose worst case is `worstCaseMs` can still finish before the deadline. */
  fits(worstCaseMs: number): boolean {
    return this.remainingMs() >= worstCaseMs;
  }

  expired(): boolean {
    return this.remainingMs() <= 0;
  }
}

/** Safety margin kept between the end of the budget and the platform's hard limit (maxDuration). */
export const SAFETY_MARGIN_MS = 5_000;

/** The run's budget: the route's own (maxDuration minus the margin), or the caller's shorter ?budgetMs. */
export function budgetFor(maxDurationSec: number, requestedMs?: number): number {
  const own = Math.max(1_000, maxDurationSec * 1000 - SAFETY_MARGIN_MS);
  return requestedMs === undefined ? own : Math.min(own, requestedMs);
}
