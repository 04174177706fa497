import { withClaimSpan, withProviderCallSpan, withSettleSpan } from '../telemetry/index.ts';
import { drain, type Outcome, type SettleCounts, toOutcome } from './drain.ts';
import { defineJob, emptyResult, type JobDefinition, type JobResult, type RunContext } from './job.ts';
import { leaseSecondsFor } from './run.ts';
import { drainSettings } from './settings.ts';

/**
 * A queue job: reap → claim → process → settle → repeat within the budget, then report. A queue states its SQL calls
 * (each one thin typed function over a function of its migration) and its provider call; the wiring, the result
 * mapping and the dry run are here, once.
 *
 * `S` is what a run prepares once (e.g. the provider), handed to every callback.
 */
export interface QueueJobSpec<I extends { id: string }, R, S> {
  name: string;
  /** Five-field cron expression; `vercel.json` must schedule the job's route with it (npm run check:vercel). */
  schedule: string;
  /** IANA zone of `schedule` (default UTC). */
  timezone?: string;
  /** Must equal the route file's `export const maxDuration` (a test checks). */
  maxDuration: number;
  /** Items per run when ?limit is not given. */
  defaultLimit: number;
  maxContinuations?: number;
  /** Environment prefix of the drain settings: `<PREFIX>_CONCURRENCY`, `<PREFIX>_BATCH_SIZE`. */
  settingsPrefix: string;
  /** What an error that is not a JobError means: 'uncertain' for calls that are not idempotent. */
  unknownError: 'retry' | 'uncertain';
  /**
   * An empty claim while the backlog is not empty means concurrent runs hold those rows (SKIP LOCKED): claim again a
   * few times before leaving. For queues whose backlog counts rows this run will not claim, leave it off.
   */
  retryLockedClaims?: boolean;
  prepare(ctx: RunContext): S;
  /** Worst case of one item (its provider timeout, plus what its processing needs). */
  itemTimeoutMs(prepared: S): number;
  /** How long a claim's lease lasts (default: past the platform's limit for this job). */
  leaseSeconds?(prepared: S): number;
  /** Items whose lease expired (the run that held them died): how many were reaped. */
  reap?(ctx: RunContext): Promise<number>;
  claim(ctx: RunContext, args: { limit: number; leaseSeconds: number }, prepared: S): Promise<I[]>;
  /** Items of one key stop together when one of them reports a key error or a rate limit. */
  keyOf?(item: I): string;
  process(item: I, signal: AbortSignal, prepared: S, ctx: RunContext): Promise<R>;
  settle(ctx: RunContext, outcomes: Outcome<R>[], prepared: S): Promise<SettleCounts>;
  /** How many items could be claimed now. */
  backlog(ctx: RunContext): Promise<number>;
  /** Work after the drain (e.g. reconciling uncertain items); its figures go into the run's details. */
  finish?(ctx: RunContext, prepared: S): Promise<Record<string, number>>;
  /** Figures of the run the queue counts itself (e.g. relations imported). */
  details?(prepared: S): Record<string, number>;
  /**
   * The queue's probe (JobDefinition.probe): a SQL function true when reap, claim or finish could find anything. When
   * it says nothing, the run returns at once: two round trips (start and finish), no reap, claim or backlog.
   */
  probe?: string;
}

export type QueueJobDefinition = JobDefinition & { schedule: string; queue: true };

export function defineQueueJob<I extends { id: string }, R, S>(spec: QueueJobSpec<I, R, S>): QueueJobDefinition {
  const job: QueueJobDefinition = {
    ...defineJob({
      name: spec.name,
      schedule: spec.schedule,
      timezone: spec.timezone,
      maxDuration: spec.maxDuration,
      defaultLimit: spec.defaultLimit,
      maxContinuations: spec.maxContinuations,
      probe: spec.probe,
      run: (ctx) => runQueue(spec, job, ctx),
    }),
    schedule: spec.schedule,
    queue: true,
  };
  return job;
}

async function runQueue<I extends { id: string }, R, S>(
  spec: QueueJobSpec<I, R, S>,
  job: JobDefinition,
  ctx: RunContext,
): Promise<JobResult> {
  // The probe said nothing is due (cron_run_begin): nothing to reap, claim, reconcile or count. The details say so,
  // with the reaper's count (none) as an ordinary run reports it.
  if (ctx.nothingDue && !ctx.dryRun) {
    return { ...emptyResult(), zeroWork: true, details: { ...(spec.reap ? { reaped: 0 } : {}), nothingDue: true } };
  }
  const prepared = spec.prepare(ctx);
  const reaped = spec.reap ? await spec.reap(ctx) : undefined;
  const withReaped: Record<string, number> = reaped === undefined ? {} : { reaped };
  if (ctx.dryRun) {
    return { ...emptyResult(), remaining: await spec.backlog(ctx), details: { ...withReaped, dryRun: true } };
  }
  const settings = drainSettings(spec.settingsPrefix);
  const itemTimeoutMs = spec.itemTimeoutMs(prepared);
  const leaseSeconds = spec.leaseSeconds?.(prepared) ?? leaseSecondsFor(job);
  const result = await drain<I, R>({
    budget: ctx.budget,
    batchSize: settings.batchSize,
    concurrency: settings.concurrency,
    limit: ctx.limit,
    itemTimeoutMs,
    minItemTimeoutMs: Math.min(settings.minItemTimeoutMs, itemTimeoutMs),
    // <PREFIX>_PREFETCH (opt-in): the next batch is claimed while this one is in flight (up to 2 batches held).
    prefetch: settings.prefetch,
    unknownError: spec.unknownError,
    signal: ctx.signal,
    // Each claim, provider call and settle is a span under the run's (lib/telemetry; no-ops without an SDK).
    claim: (max) => withClaimSpan(spec.name, max, () => spec.claim(ctx, { limit: max, leaseSeconds }, prepared)),
    keyOf: spec.keyOf,
    process: (item, signal) =>
      withProviderCallSpan(
        { 'cron.job': spec.name, 'cron.item.id': item.id },
        () => spec.process(item, signal, prepared, ctx),
        (e) => toOutcome(item.id, e, spec.unknownError).outcome,
        signal,
      ),
    settle: (outcomes) => withSettleSpan(spec.name, outcomes.length, () => spec.settle(ctx, outcomes, prepared)),
    moreAvailable: spec.retryLockedClaims ? async () => (await spec.backlog(ctx)) > 0 : undefined,
  });
  const finished = spec.finish ? await spec.finish(ctx, prepared) : {};
  const remaining = await spec.backlog(ctx);
  return {
    claimed: result.claimed,
    succeeded: result.succeeded,
    failed: result.failed,
    retried: result.retried,
    uncertain: result.uncertain,
    remaining,
    hasMore: result.stoppedEarly && remaining > 0,
    // Found nothing (a probe's false "something due", or items a concurrent run held): still an idle call. Nothing
    // claimed means nothing processed, so the queue's own figures (spec.details) are zero or settings.
    zeroWork: result.claimed === 0 && remaining === 0 && !reaped && Object.values(finished).every((n) => n === 0),
    details: {
      ...withReaped,
      ...finished,
      ...spec.details?.(prepared),
      released: result.released,
      batches: result.batches,
    },
  };
}
