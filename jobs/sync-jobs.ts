import { defineQueueJob } from '../lib/cron/queue-job.ts';
import { getProvider } from '../lib/providers/index.ts';
import type { LinkedInProvider } from '../lib/providers/types.ts';
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

interface SyncRun {
  provider: LinkedInProvider;
  pageSize: number;
  /** Each claimed job's page count at claim: a failure only counts if no page was committed since. */
  pagesAtClaim: Map<string, number>;
  relations: number;
  completed: number;
}

/**
 * Account sync: round after round, claim up to SYNC_BATCH_SIZE due jobs (a lease each, SKIP LOCKED), fetch one page of
 * each (SYNC_CONCURRENCY at once), commit each page with its cursor, then claim again, longest-waiting jobs first. So
 * many jobs advance fairly, one big import cannot starve a small one, and a run that is killed loses at most the
 * pages in flight: their leases expire and the next run fetches them again from the committed cursors.
 *
 * Provider errors: transient → the job stays running and waits for the backoff; after the queue's max attempts, or on
 * a permanent error → failed with the reason. Account errors (disconnected, restricted) fail the job with the reason
 * and mark the account, as the DM queue does: a user-started import should say why it stopped rather than wait.
 */
export const syncJobs = defineQueueJob<ClaimedSyncJob, CommittedPage, SyncRun>({
  name: 'sync-jobs',
  schedule: '* * * * *',
  maxDuration: 60,
  // ?limit caps the pages fetched by one run; by default the budget is the only limit.
  defaultLimit: 100_000,
  maxContinuations: 3,
  settingsPrefix: 'SYNC',
  probe: 'sync_probe',
  // Reads are idempotent: whatever went wrong, fetching the page again is safe.
  unknownError: 'retry',
  prepare: () => ({
    provider: getProvider(),
    pageSize: syncPageSize(),
    pagesAtClaim: new Map(),
    relations: 0,
    completed: 0,
  }),
  itemTimeoutMs: (run) => run.provider.timeoutMs + COMMIT_ALLOWANCE_MS,
  // A lease covers one page: a killed run's jobs are claimable again soon after.
  leaseSeconds: (run) => Math.ceil((run.provider.timeoutMs + COMMIT_ALLOWANCE_MS) / 1000) + 30,
  claim: async (ctx, { limit, leaseSeconds }, run) => {
    const jobs = await claimSyncJobs(ctx.db, { limit, leaseSeconds, runId: ctx.runId, now: ctx.now() });
    for (const job of jobs) run.pagesAtClaim.set(job.id, job.pages);
    return jobs;
  },
  process: async (job, signal, run, ctx) => {
    const page = await syncOnePage(ctx.db, run.provider, job, { pageSize: run.pageSize, now: ctx.now, signal });
    if (page.applied) {
      run.relations += page.fetched;
      if (page.status === 'completed') run.completed++;
    }
    return page;
  },
  settle: (ctx, outcomes, run) =>
    settleSyncJobs(ctx.db, {
      runId: ctx.runId,
      outcomes,
      pagesAtClaim: run.pagesAtClaim,
      policy: ctx.policy,
      now: ctx.now(),
    }),
  backlog: (ctx) => syncBacklog(ctx.db, ctx.now()),
  details: (run) => ({ relations: run.relations, completed: run.completed, pageSize: run.pageSize }),
});
