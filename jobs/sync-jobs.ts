import { drain } from '../lib/cron/drain.ts';
import { defineJob, emptyResult, type JobResult } from '../lib/cron/job.ts';
import { drainSettings } from '../lib/cron/settings.ts';
import { getProvider } from '../lib/providers/index.ts';
import { syncOnePage, syncPageSize } from '../lib/sync/page.ts';
import {
  type ClaimedSyncJob,
  type CommittedPage,
  claimSyncJobs,
  settleSyncJobs,
  syncBacklog,
} from '../lib/sync/queries.ts';

/** Time kept for committing a page after the provider answered. */
const COMMIT_ALLOWANCE_MS = 2_000;

/**
 * Account sync: round after round, claim up to SYNC_BATCH_SIZE due jobs (a lease each, SKIP LOCKED), fetch one page of
 * each (SYNC_CONCURRENCY at once), commit each page with its cursor, then claim again, longest-waiting jobs first. So
 * many jobs advance fairly, one big import cannot starve a small one, and a run that is killed loses at most the
 * pages in flight: their leases expire and the next run fetches them again from the committed cursors.
 *
 * Provider errors: transient → the job stays running and waits for the backoff; after JOB_MAX_ATTEMPTS, or on a
 * permanent error → failed with the reason. Account errors (disconnected, restricted) fail the job with the reason and
 * mark the account, as the DM queue does: a user-started import should say why it stopped rather than wait silently.
 */
export const syncJobs = defineJob({
  name: 'sync-jobs',
  maxDuration: 60,
  // ?limit caps the pages fetched by one run; by default the budget is the only limit.
  defaultLimit: 100_000,
  maxContinuations: 3,
  async run(ctx): Promise<JobResult> {
    const provider = getProvider();
    if (ctx.dryRun) {
      return { ...emptyResult(), remaining: await syncBacklog(ctx.db, ctx.now()), details: { dryRun: true } };
    }
    const settings = drainSettings('SYNC');
    const pageSize = syncPageSize();
    const itemTimeoutMs = provider.timeoutMs + COMMIT_ALLOWANCE_MS;
    // A lease covers one page: a killed run's jobs are claimable again soon after.
    const leaseSeconds = Math.ceil(itemTimeoutMs / 1000) + 30;
    const pagesAtClaim = new Map<string, number>();
    let relations = 0;
    let completed = 0;
    const result = await drain<ClaimedSyncJob, CommittedPage>({
      budget: ctx.budget,
      batchSize: settings.batchSize,
      concurrency: settings.concurrency,
      limit: ctx.limit,
      itemTimeoutMs,
      minItemTimeoutMs: settings.minItemTimeoutMs,
      // Reads are idempotent: whatever went wrong, fetching the page again is safe.
      unknownError: 'retry',
      signal: ctx.signal,
      claim: async (max) => {
        const jobs = await claimSyncJobs(ctx.db, { limit: max, leaseSeconds, runId: ctx.runId, now: ctx.now() });
        for (const job of jobs) pagesAtClaim.set(job.id, job.pages);
        return jobs;
      },
      process: (job, signal) => syncOnePage(ctx.db, provider, job, { pageSize, now: ctx.now, signal }),
      settle: (outcomes) => {
        for (const o of outcomes) {
          if (o.outcome !== 'success' || !o.result.applied) continue;
          relations += o.result.fetched;
          if (o.result.status === 'completed') completed++;
        }
        return settleSyncJobs(ctx.db, { runId: ctx.runId, outcomes, pagesAtClaim, policy: ctx.policy, now: ctx.now() });
      },
    });
    const remaining = await syncBacklog(ctx.db, ctx.now());
    return {
      claimed: result.claimed,
      succeeded: result.succeeded,
      failed: result.failed,
      retried: result.retried,
      uncertain: 0,
      remaining,
      hasMore: result.stoppedEarly && remaining > 0,
      details: { relations, completed, released: result.released, rounds: result.batches, pageSize },
    };
  },
});
