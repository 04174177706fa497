import { planAnalyticsDays, runAnalyticsChunk } from '../lib/analytics/queries.ts';
import { ChunkSizer } from '../lib/cron/chunk-size.ts';
import { defineJob, emptyResult, type JobResult } from '../lib/cron/job.ts';

/** Yesterday plus the six days before it: a missed night (or a week of them) catches up. */
const LOOKBACK_DAYS = 7;
/** Accounts per chunk: starts at 200 and follows the measured speed, aiming at one second per chunk. */
const CHUNK = { initial: 200, min: 10, max: 5000, targetMs: 1000 };
/** ANALYTICS_CHUNK_SIZE sets the first chunk's size (clamped to [min, max]); the measured speed takes over after it. */
function initialChunkSize(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number.parseInt(env.ANALYTICS_CHUNK_SIZE ?? '', 10);
  return Number.isSafeInteger(n) && n > 0 ? n : CHUNK.initial;
}
/** The speed comes from one chunk and accounts vary, so a chunk starts only if twice its estimate fits ... */
const SAFETY_FACTOR = 2;
/** ... plus a round trip. */
const ROUND_TRIP_MS = 50;

export interface AnalyticsCursor {
  day: string;
  afterAccountId: string | null;
}

/**
 * Nightly analytics: for each UTC day on the work list (yesterday and any incomplete day of the last week), aggregate
 * accounts in keyset-ordered chunks. Each chunk is one SQL call that writes its rows and moves the day's cursor
 * together, so a run that dies anywhere resumes exactly there and never counts twice. Single-flight: a second
 * invocation answers 'skipped'. Every invocation does at least one chunk, whatever its budget; a run that stops with
 * work left is 'partial' and continues itself through the route.
 */
export const analytics = defineJob({
  name: 'analytics',
  schedule: '5 0 * * *',
  maxDuration: 300,
  // ?limit caps the accounts aggregated by one run; by default the budget is the only limit.
  defaultLimit: 1_000_000,
  singleFlight: true,
  maxContinuations: 5,
  async run(ctx): Promise<JobResult> {
    const days = await planAnalyticsDays(ctx.db, { now: ctx.now(), lookbackDays: LOOKBACK_DAYS });
    if (ctx.dryRun) return { ...emptyResult(), remaining: days.length, details: { dryRun: true } };

    const sizer = new ChunkSizer({ ...CHUNK, initial: initialChunkSize() });
    let accounts = 0;
    let chunks = 0;
    let daysCompleted = 0;
    let cursor: AnalyticsCursor | null = null;
    const result = (hasMore: boolean): JobResult => ({
      ...emptyResult(),
      claimed: accounts,
      succeeded: accounts,
      remaining: days.length - daysCompleted,
      hasMore,
      cursor: hasMore ? cursor : null,
      details: { days: days.length, daysCompleted, chunks, chunkSize: sizer.size },
    });

    for (const pending of days) {
      cursor = { day: pending.day, afterAccountId: pending.cursor_account_id };
      let dayDone = false;
      while (!dayDone) {
        const size = Math.min(sizer.size, ctx.limit - accounts);
        // The first chunk always runs: even ?budgetMs=1 makes progress.
        const fits = ctx.budget.fits(sizer.estimateMs(size) * SAFETY_FACTOR + ROUND_TRIP_MS);
        if (chunks > 0 && (size < 1 || ctx.signal.aborted || !fits)) return result(true);

        const started = performance.now();
        const chunk = await runAnalyticsChunk(ctx.db, { day: pending.day, limit: Math.max(size, 1), now: ctx.now() });
        sizer.record(chunk.accounts, performance.now() - started, ctx.budget.remainingMs());
        chunks++;
        accounts += chunk.accounts;
        cursor = { day: chunk.day, afterAccountId: chunk.last_account_id };
        dayDone = chunk.day_done;
        if (dayDone) daysCompleted++;
        await ctx.extendLease();
      }
    }
    return result(false);
  },
});
