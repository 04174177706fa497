import { ChunkSizer } from '../lib/cron/chunk-size.ts';
import { defineJob, emptyResult, type JobResult } from '../lib/cron/job.ts';
import { pruneOnce, retentionOverview } from '../lib/retention/queries.ts';
import { RETENTION_KINDS, type RetentionKind, retentionDays } from '../lib/retention/settings.ts';

/** Rows per delete: starts at 1000 and follows the measured speed, aiming at half a second per statement. */
const CHUNK = { initial: 1000, min: 100, max: 20_000, targetMs: 500 };
/** A chunk starts only if twice its estimate plus a round trip fits in the time left (as analytics does). */
const SAFETY_FACTOR = 2;
const ROUND_TRIP_MS = 50;

/**
 * Daily retention: prunes old run history (`job_runs`), delivered webhooks and completed sync jobs, each kind after its
 * own number of days (lib/retention/settings.ts), oldest first, in bounded deletes (retention_prune). Failed and
 * uncertain items, running runs and each job's latest run and latest success are never pruned (the SQL decides).
 * Single-flight; every run does at least one delete, and one that stops at its budget or ?limit is 'partial': the
 * continuation or tomorrow's run starts again from the first kind, whose index finds at once what is still old.
 */
export const retention = defineJob({
  name: 'retention',
  schedule: '0 3 * * *',
  maxDuration: 60,
  // ?limit caps the rows deleted by one run; by default the budget is the only limit.
  defaultLimit: 1_000_000,
  singleFlight: true,
  maxContinuations: 3,
  async run(ctx): Promise<JobResult> {
    // An invalid RETENTION_* value throws here: the run ends 'error' with the variable's name, nothing deleted.
    const days = retentionDays();
    // One cutoff per run: the rows a run prunes do not depend on how long it took.
    const now = ctx.now();
    if (ctx.dryRun) {
      const overview = await retentionOverview(ctx.db, days, now);
      const past = Object.fromEntries(overview.map((r) => [r.kind, r.pastRetention]));
      return {
        ...emptyResult(),
        remaining: overview.reduce((n, r) => n + r.pastRetention, 0),
        details: { dryRun: true, ...past },
      };
    }

    const sizer = new ChunkSizer(CHUNK);
    const pruned = Object.fromEntries(RETENTION_KINDS.map((k) => [k, 0])) as Record<RetentionKind, number>;
    let total = 0;
    let chunks = 0;
    const result = (stoppedAt: RetentionKind | null): JobResult => ({
      ...emptyResult(),
      claimed: total,
      succeeded: total,
      // Kinds not known to be done: the one the run stopped in and those after it.
      remaining: stoppedAt ? RETENTION_KINDS.length - RETENTION_KINDS.indexOf(stoppedAt) : 0,
      hasMore: stoppedAt !== null,
      cursor: stoppedAt ? { kind: stoppedAt } : null,
      details: { ...pruned, chunks, chunkSize: sizer.size },
    });

    for (const kind of RETENTION_KINDS) {
      while (true) {
        const size = Math.min(sizer.size, ctx.limit - total);
        const fits = ctx.budget.fits(sizer.estimateMs(size) * SAFETY_FACTOR + ROUND_TRIP_MS);
        // Until a delete has removed something the run goes on (at most one empty look per kind, then one batch), so
        // even ?budgetMs=1 makes progress; a kind with nothing old must not use up a tiny budget's one batch.
        if (total > 0 && (size < 1 || !fits)) return result(kind);
        if (chunks > 0 && ctx.signal.aborted) return result(kind);

        const limit = Math.max(size, 1);
        const started = performance.now();
        const n = await pruneOnce(ctx.db, { kind, keepDays: days[kind], limit, now });
        sizer.record(n, performance.now() - started, ctx.budget.remainingMs());
        chunks++;
        total += n;
        pruned[kind] += n;
        await ctx.extendLease();
        // A short batch: nothing of this kind is old enough any more.
        if (n < limit) break;
      }
    }
    return result(null);
  },
});
