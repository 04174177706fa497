import { after } from 'next/server';
import { budgetFor } from '../cron/budget.ts';
import type { JobDefinition } from '../cron/job.ts';
import { runJob } from '../cron/run.ts';
import type { Db } from '../db/types.ts';
import { log, toErrorMessage } from '../log.ts';

/** Runs work after the response is sent: Next's `after` (Vercel's waitUntil) by default; tests inject their own. */
export type Scheduler = (task: () => Promise<void>) => void;

const defaultScheduler: Scheduler = (task) => after(task);
let scheduler: Scheduler = defaultScheduler;

/** Replaces (or with undefined, restores) the scheduler of the enqueue kick; for tests. */
export function setSyncScheduler(next: Scheduler | undefined): void {
  scheduler = next ?? defaultScheduler;
}

/**
 * Starts the first slice of the sync work right after the enqueue answered, in the same invocation, so a small import
 * finishes without waiting for the next cron tick. It is an ordinary run of the job (recorded in job_runs, fair to
 * other jobs), with what is left of the enqueue route's own time limit as its budget; what does not fit is the
 * cron's. A failure to schedule only delays the work until that tick.
 */
export function kickSyncRun(job: JobDefinition, db: Db, args: { routeMaxDuration: number; startedAt: number }): void {
  const task = async () => {
    const budgetMs = budgetFor(args.routeMaxDuration) - (Date.now() - args.startedAt);
    if (budgetMs < 1_000) return;
    // runJob never throws; this catch is for the unexpected.
    try {
      await runJob(job, { db, trigger: 'manual', budgetMs });
    } catch (e) {
      log('warn', 'sync kick failed', { job: job.name, error: toErrorMessage(e) });
    }
  };
  try {
    scheduler(task);
  } catch (e) {
    log('warn', 'sync kick not scheduled', { job: job.name, error: toErrorMessage(e) });
  }
}
