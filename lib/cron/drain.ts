import pLimit from 'p-limit';
import { toErrorMessage } from '../log.ts';
import type { Budget } from './budget.ts';
import { JobError, type KeyError, type RetryableError, UncertainError } from './errors.ts';

/** What happened to one claimed item; the job's settle function records a batch of these in one statement. */
export type Outcome<R> =
  | { id: string; outcome: 'success'; result: R }
  | { id: string; outcome: 'failed'; error: string; code?: string }
  /** `cooldown`: the item's key (its account) rests too (a rate limit is about the key, not the item). */
  | { id: string; outcome: 'retry'; error: string; code?: string; retryAfterMs?: number; cooldown?: boolean }
  | { id: string; outcome: 'uncertain'; error: string; code?: string }
  /** The key is at fault: the item waits (no attempt spent) and the queue pauses the key with `keyStatus`. */
  | { id: string; outcome: 'key'; error: string; code?: string; keyStatus: string }
  /** Claimed but never started (budget, limit, or its key was stopped): back to the queue, no attempt spent. */
  | { id: string; outcome: 'release'; error: string };

export interface SettleCounts {
  succeeded: number;
  failed: number;
  retried: number;
  uncertain: number;
  released: number;
}

export interface DrainSpec<I extends { id: string }, R> {
  budget: Budget;
  /** Items per claim. */
  batchSize: number;
  /** Items in flight at once. */
  concurrency: number;
  /** Items this run at most. */
  limit: number;
  /** The provider's timeout: an item's worst case. */
  itemTimeoutMs: number;
  /** Kept free at the end of the budget for settling. */
  marginMs?: number;
  /**
   * Smallest timeout an item may be started with. Near the end of the budget an item gets the time left (never more
   * than itemTimeoutMs); below this floor it is not started. Defaults to itemTimeoutMs (start only with the full one).
   */
  minItemTimeoutMs?: number;
  /** What an error that is not a JobError means: 'uncertain' for calls that are not idempotent. */
  unknownError: 'retry' | 'uncertain';
  signal?: AbortSignal;
  claim(max: number): Promise<I[]>;
  process(item: I, signal: AbortSignal): Promise<R>;
  /** Items of one key (an account) stop together on an account error or a cool-down. */
  keyOf?(item: I): string;
  settle(outcomes: Outcome<R>[]): Promise<SettleCounts>;
  /**
   * Asked when a claim comes back empty: is there work that concurrent runs hold locked right now (SKIP LOCKED skips
   * it)? If so the loop waits a moment and claims again, a few times, instead of leaving early.
   */
  moreAvailable?(): Promise<boolean>;
}

const EMPTY_CLAIM_RETRIES = 3;
/** Answered calls needed before the start floor adapts to the observed latency, and the lowest it goes. */
const ADAPT_AFTER_SAMPLES = 8;
const ADAPTIVE_FLOOR_MIN_MS = 1_000;
const LATENCY_WINDOW = 256;

export interface DrainResult extends SettleCounts {
  claimed: number;
  batches: number;
  /** Stopped for time or limit, not for lack of work. */
  stoppedEarly: boolean;
}

export function toOutcome<R>(id: string, e: unknown, unknownError: 'retry' | 'uncertain'): Outcome<R> {
  const error = toErrorMessage(e);
  if (e instanceof JobError) {
    switch (e.kind) {
      case 'permanent':
        return { id, outcome: 'failed', error, code: e.code };
      case 'retry': {
        const r = e as RetryableError;
        return {
          id,
          outcome: 'retry',
          error,
          code: e.code,
          retryAfterMs: r.retryAfterMs,
          cooldown: r.cooldownKey,
        };
      }
      case 'uncertain':
        return { id, outcome: 'uncertain', error, code: e.code };
      case 'key':
        return { id, outcome: 'key', error, code: e.code, keyStatus: (e as KeyError).keyStatus };
    }
  }
  return unknownError === 'uncertain'
    ? { id, outcome: 'uncertain', error: `unexpected error: ${error}` }
    : { id, outcome: 'retry', error: `unexpected error: ${error}` };
}

/**
 * The budget must hold even when a handler ignores its signal: the item then counts as timed out (uncertain — it
 * may have reached the provider) and the run moves on.
 */
function raceAbort<T>(work: Promise<T>, signal: AbortSignal, timeoutMs: number): Promise<T> {
  if (signal.aborted) work.catch(() => {});
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new UncertainError(`no answer within ${timeoutMs} ms`, { code: 'timeout' }));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

const SETTLE_TRIES = 3;

/** Settling is idempotent (rows no longer held are left alone), so a transient failure is retried. */
async function settleWithRetry<R>(
  settle: (outcomes: Outcome<R>[]) => Promise<SettleCounts>,
  outcomes: Outcome<R>[],
): Promise<SettleCounts> {
  let last: unknown;
  for (let i = 0; i < SETTLE_TRIES; i++) {
    try {
      return await settle(outcomes);
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, 100 * (i + 1)));
    }
  }
  throw last;
}

/**
 * Claim a batch → process it with bounded concurrency → settle all outcomes in one call → repeat while time, limit
 * and work remain. An item starts only if its worst case fits in the time left; items claimed but not started are
 * released in the same settle. One failing item never stops the batch.
 */
export async function drain<I extends { id: string }, R>(spec: DrainSpec<I, R>): Promise<DrainResult> {
  const margin = spec.marginMs ?? 500;
  const configuredFloor = Math.min(spec.minItemTimeoutMs ?? spec.itemTimeoutMs, spec.itemTimeoutMs);
  const latencies: number[] = [];
  let floorMs = configuredFloor;
  /**
   * The start floor adapts to the provider this run sees: once a few calls have answered, an item may start with
   * 4 × their p99 (at least 1 s) left, so a fast provider keeps the last seconds of the budget busy while a slow one
   * keeps the configured floor. A call cut short by a shortened timeout becomes uncertain, hence the wide multiple.
   * Recomputed once per batch from the latest calls, so its cost does not grow with the run.
   */
  const adaptFloor = () => {
    if (latencies.length > LATENCY_WINDOW) latencies.splice(0, latencies.length - LATENCY_WINDOW);
    if (latencies.length < ADAPT_AFTER_SAMPLES) return;
    const sorted = [...latencies].sort((a, b) => a - b);
    const p99 = sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)]!;
    floorMs = Math.min(configuredFloor, Math.max(ADAPTIVE_FLOOR_MIN_MS, 4 * p99));
  };
  const total: DrainResult = {
    claimed: 0,
    succeeded: 0,
    failed: 0,
    retried: 0,
    uncertain: 0,
    released: 0,
    batches: 0,
    stoppedEarly: false,
  };
  const stoppedKeys = new Set<string>();
  const limiter = pLimit(Math.max(1, spec.concurrency));
  let emptyClaims = 0;

  while (true) {
    const left = spec.limit - total.claimed;
    if (left <= 0) {
      total.stoppedEarly = true;
      break;
    }
    if (spec.signal?.aborted || !spec.budget.fits(floorMs + margin)) {
      total.stoppedEarly = true;
      break;
    }
    const items = await spec.claim(Math.min(spec.batchSize, left));
    if (items.length === 0) {
      if (emptyClaims < EMPTY_CLAIM_RETRIES && spec.moreAvailable && (await spec.moreAvailable())) {
        emptyClaims++;
        await new Promise((r) => setTimeout(r, 50 * emptyClaims + Math.random() * 50));
        continue;
      }
      break;
    }
    emptyClaims = 0;
    total.claimed += items.length;
    total.batches++;

    const outcomes = await Promise.all(
      items.map((item) =>
        limiter(async (): Promise<Outcome<R>> => {
          const key = spec.keyOf?.(item);
          if (key !== undefined && stoppedKeys.has(key)) {
            return { id: item.id, outcome: 'release', error: 'its key (account) stopped earlier in this run' };
          }
          const timeout = Math.min(spec.itemTimeoutMs, spec.budget.remainingMs() - margin);
          if (spec.signal?.aborted || timeout < floorMs) {
            return { id: item.id, outcome: 'release', error: 'not started: run budget exhausted' };
          }
          const signals = [AbortSignal.timeout(timeout)];
          if (spec.signal) signals.push(spec.signal);
          const signal = AbortSignal.any(signals);
          const startedAt = spec.budget.elapsedMs();
          try {
            const result = await raceAbort(spec.process(item, signal), signal, timeout);
            latencies.push(spec.budget.elapsedMs() - startedAt);
            return { id: item.id, outcome: 'success', result };
          } catch (e) {
            const outcome = toOutcome<R>(item.id, e, spec.unknownError);
            // A provider that answered (even with an error) tells us its latency; a timeout does not.
            if (!signal.aborted) latencies.push(spec.budget.elapsedMs() - startedAt);
            if (key !== undefined && (outcome.outcome === 'key' || (outcome.outcome === 'retry' && outcome.cooldown))) {
              stoppedKeys.add(key);
            }
            return outcome;
          }
        }),
      ),
    );
    adaptFloor();
    const counts = await settleWithRetry(spec.settle, outcomes);
    total.succeeded += counts.succeeded;
    total.failed += counts.failed;
    total.retried += counts.retried;
    total.uncertain += counts.uncertain;
    total.released += counts.released;
    if (outcomes.some((o) => o.outcome === 'release' && o.error.startsWith('not started'))) {
      total.stoppedEarly = true;
      break;
    }
  }
  return total;
}
