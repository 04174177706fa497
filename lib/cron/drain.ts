import { toErrorMessage } from '../log.ts';
import type { Budget } from './budget.ts';
import { JobError, type KeyError, type RetryableError } from './errors.ts';

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
  /** Items per claim; without `prefetch`, also the most items claimed and not yet settled at any time. */
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
  /**
   * Claim the next batch while this one is still in flight, so the concurrency slots never wait for a settle and a
   * claim. Up to 2 × batchSize items are then claimed and not yet settled: a run killed at that moment leaves twice as
   * many items to the reaper (`uncertain`). Off by default.
   */
  prefetch?: boolean;
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
/** Items started within this much of each other share one deadline (their timeouts differ by at most this). */
const DEADLINE_SHARE_MAX_MS = 100;

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

/** What a deadline rejects with; the item's outcome is built from it (no error object per item). */
const EXPIRED = Symbol('deadline');
const noop = () => {};

/**
 * One timer and one AbortController shared by the items started within DEADLINE_SHARE_MAX_MS of each other, instead of
 * an AbortSignal.timeout and an AbortSignal.any per item. When it fires, `expired` rejects first (so the item counts as
 * timed out whatever its handler does), then the signal aborts (so a handler that listens stops its call).
 */
interface Deadline {
  /** On the budget's clock (elapsed ms). */
  at: number;
  controller: AbortController;
  expired: Promise<never>;
  reject: (why: unknown) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** Items started with it and not finished. */
  pending: number;
  fired: boolean;
}

/**
 * Claim → process with bounded concurrency → settle the outcomes in one call → claim again while time, limit and work
 * remain. The slots are refilled as items finish: the outcomes so far are settled and replacements claimed while the
 * rest are still in flight, never holding more than batchSize claimed-but-unsettled items (2 × batchSize with
 * `prefetch`). An item starts only if the time left fits the start floor; its timeout is the time left, at most
 * itemTimeoutMs. Items claimed but not started are released in a settle. One failing item never stops the run.
 */
export async function drain<I extends { id: string }, R>(spec: DrainSpec<I, R>): Promise<DrainResult> {
  const { budget, itemTimeoutMs } = spec;
  const margin = spec.marginMs ?? 500;
  const batchSize = Math.max(1, spec.batchSize);
  const concurrency = Math.max(1, spec.concurrency);
  const maxHeld = spec.prefetch ? 2 * batchSize : batchSize;
  /**
   * The smallest claim worth a round trip. Without prefetch and batchSize ≤ concurrency every claimed item is in
   * flight at once, so the next claim waits for the whole batch (one settle and one claim per batch); a larger batch
   * is refilled when its queue has run dry, while the last concurrency items are still in flight.
   */
  const minClaim =
    spec.prefetch || batchSize <= concurrency ? batchSize : Math.max(batchSize - concurrency, Math.ceil(batchSize / 2));
  const shareMs = Math.min(DEADLINE_SHARE_MAX_MS, Math.floor(itemTimeoutMs / 50));
  const configuredFloor = Math.min(spec.minItemTimeoutMs ?? itemTimeoutMs, itemTimeoutMs);
  let floorMs = configuredFloor;

  const latencies = new Float64Array(LATENCY_WINDOW);
  let samples = 0;
  const recordLatency = (ms: number) => {
    latencies[samples++ % LATENCY_WINDOW] = ms;
  };
  /**
   * The start floor adapts to the provider this run sees: once a few calls have answered, an item may start with
   * 4 × their p99 (at least 1 s) left, so a fast provider keeps the last seconds of the budget busy while a slow one
   * keeps the configured floor. A call cut short by a shortened timeout becomes uncertain, hence the wide multiple.
   * Recomputed once per claim from the latest calls, so its cost does not grow with the run.
   */
  const adaptFloor = () => {
    if (samples < ADAPT_AFTER_SAMPLES) return;
    const sorted = latencies.slice(0, Math.min(samples, LATENCY_WINDOW)).sort();
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

  // Claimed, not started: queue[head..]. In flight: inFlight. Finished, not settled: finished.
  let queue: I[] = [];
  let head = 0;
  let inFlight = 0;
  let finished: Outcome<R>[] = [];
  let claimOpen = true;
  let refilling = false;
  let starting = true;
  let emptyClaims = 0;
  /** A claim came back empty while items were in flight: wait for them before claiming again. */
  let emptyWhileBusy = false;
  let failure: { error: unknown } | undefined;

  // ---- deadlines ----
  const live = new Set<Deadline>();
  let open: Deadline | undefined;
  const fire = (d: Deadline) => {
    if (d.fired) return;
    d.fired = true;
    d.timer = undefined;
    live.delete(d);
    if (open === d) open = undefined;
    d.reject(EXPIRED);
    d.controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError'));
  };
  const dispose = (d: Deadline) => {
    if (d.timer !== undefined) clearTimeout(d.timer);
    d.timer = undefined;
    live.delete(d);
  };
  const deadlineFor = (now: number, timeout: number): Deadline => {
    const at = now + timeout;
    if (open && open.at <= at && open.at >= at - shareMs && open.at - now >= floorMs) return open;
    if (open && open.pending === 0) dispose(open);
    let reject: (why: unknown) => void = noop;
    const expired = new Promise<never>((_, r) => {
      reject = r;
    });
    expired.catch(noop);
    const d: Deadline = {
      at,
      controller: new AbortController(),
      expired,
      reject,
      timer: undefined,
      pending: 0,
      fired: false,
    };
    d.timer = setTimeout(fire, timeout, d);
    d.timer.unref?.();
    live.add(d);
    open = d;
    return d;
  };
  const onRunAbort = () => {
    for (const d of [...live]) fire(d);
  };
  spec.signal?.addEventListener('abort', onRunAbort, { once: true });

  // ---- items ----
  const notStarted = (id: string): Outcome<R> => ({
    id,
    outcome: 'release',
    error: 'not started: run budget exhausted',
  });

  async function run(item: I, key: string | undefined, startedAt: number, timeout: number): Promise<Outcome<R>> {
    const d = deadlineFor(startedAt, timeout);
    d.pending++;
    try {
      const result = await Promise.race([spec.process(item, d.controller.signal), d.expired]);
      recordLatency(budget.elapsedMs() - startedAt);
      return { id: item.id, outcome: 'success', result };
    } catch (e) {
      if (e === EXPIRED) {
        // The budget holds even when a handler ignores its signal: the item counts as timed out (uncertain — it may
        // have reached the provider) and the run moves on.
        return { id: item.id, outcome: 'uncertain', error: `no answer within ${d.at - startedAt} ms`, code: 'timeout' };
      }
      const outcome = toOutcome<R>(item.id, e, spec.unknownError);
      // A provider that answered (even with an error) tells us its latency; a timeout does not.
      if (!d.fired) recordLatency(budget.elapsedMs() - startedAt);
      if (key !== undefined && (outcome.outcome === 'key' || (outcome.outcome === 'retry' && outcome.cooldown))) {
        stoppedKeys.add(key);
      }
      return outcome;
    } finally {
      if (--d.pending === 0 && d !== open) dispose(d);
    }
  }

  const done = (outcome: Outcome<R>) => {
    inFlight--;
    finished.push(outcome);
    pump();
  };

  const stopStarting = () => {
    starting = false;
    claimOpen = false;
    total.stoppedEarly = true;
  };

  /** Starts the next claimed item, or releases it at once when it must not start. */
  const start = (item: I) => {
    const key = spec.keyOf?.(item);
    if (key !== undefined && stoppedKeys.has(key)) {
      finished.push({ id: item.id, outcome: 'release', error: 'its key (account) stopped earlier in this run' });
      return;
    }
    if (!starting) {
      finished.push(notStarted(item.id));
      return;
    }
    // One clock reading per start (the run's clock may allocate): the time left, and the item's start for its latency.
    const now = budget.elapsedMs();
    const timeout = Math.min(itemTimeoutMs, Math.max(0, budget.totalMs - now) - margin);
    if (spec.signal?.aborted || timeout < floorMs) {
      stopStarting();
      finished.push(notStarted(item.id));
      return;
    }
    inFlight++;
    run(item, key, now, timeout).then(done);
  };

  // ---- settle and claim ----
  const settleFinished = async () => {
    const outcomes = finished;
    finished = [];
    let counts: SettleCounts;
    try {
      counts = await settleWithRetry(spec.settle, outcomes);
    } catch (e) {
      finished = outcomes.concat(finished);
      throw e;
    }
    total.succeeded += counts.succeeded;
    total.failed += counts.failed;
    total.retried += counts.retried;
    total.uncertain += counts.uncertain;
    total.released += counts.released;
  };

  /** Settles what has finished, then claims as many as the bound allows (settle first: the bound is on the rows). */
  const refill = async () => {
    if (finished.length > 0) await settleFinished();
    adaptFloor();
    if (spec.signal?.aborted || !starting || !budget.fits(floorMs + margin)) {
      stopStarting();
      return;
    }
    const unsettled = queue.length - head + inFlight + finished.length;
    const n = Math.min(batchSize, spec.limit - total.claimed, maxHeld - unsettled);
    if (n <= 0) return;
    const items = await spec.claim(n);
    if (items.length === 0) {
      if (inFlight > 0) {
        emptyWhileBusy = true;
        return;
      }
      if (emptyClaims < EMPTY_CLAIM_RETRIES && spec.moreAvailable && (await spec.moreAvailable())) {
        emptyClaims++;
        await new Promise((r) => setTimeout(r, 50 * emptyClaims + Math.random() * 50));
        return;
      }
      claimOpen = false;
      return;
    }
    emptyClaims = 0;
    emptyWhileBusy = false;
    total.claimed += items.length;
    total.batches++;
    if (head === queue.length) {
      queue = items;
      head = 0;
    } else for (const item of items) queue.push(item);
  };

  let settleDone: (result: DrainResult) => void = noop;
  let settleFailed: (e: unknown) => void = noop;
  const result = new Promise<DrainResult>((resolve, reject) => {
    settleDone = resolve;
    settleFailed = reject;
  });
  let ending = false;

  const end = async () => {
    spec.signal?.removeEventListener('abort', onRunAbort);
    for (const d of [...live]) dispose(d);
    try {
      if (finished.length > 0) await settleFinished();
    } catch (e) {
      if (!failure) throw e;
    }
    if (failure) throw failure.error;
    return total;
  };

  const afterRefill = () => {
    refilling = false;
    pump();
  };
  const refillFailed = (e: unknown) => {
    failure ??= { error: e };
    claimOpen = false;
    starting = false;
    afterRefill();
  };

  function pump(): void {
    while (inFlight < concurrency && head < queue.length) start(queue[head++]!);
    if (!refilling && claimOpen) {
      const left = spec.limit - total.claimed;
      if (left <= 0) {
        claimOpen = false;
        total.stoppedEarly = true;
      } else if (
        maxHeld - (queue.length - head + inFlight) >= Math.min(minClaim, left) &&
        !(emptyWhileBusy && inFlight > 0)
      ) {
        refilling = true;
        refill().then(afterRefill, refillFailed);
        return;
      }
    }
    if (!refilling && !ending && inFlight === 0 && head === queue.length && !claimOpen) {
      ending = true;
      end().then(settleDone, settleFailed);
    }
  }

  pump();
  return result;
}
