import { budgetFor } from '../cron/budget.ts';
import type { JobDefinition } from '../cron/job.ts';
import { type RunSummary, runJob } from '../cron/run.ts';
import type { Db } from '../db/types.ts';
import { log } from '../log.ts';
import { setJobEnabled } from './queries.ts';

/**
 * The operator's actions on a job, one definition for every door: /admin's server actions (app/admin/actions.ts), the
 * JSON API (/api/jobs, lib/admin/operator-api.ts) and through it `npm run cron -- --pause`. Each is one SQL function
 * (cron_set_enabled, cron_job_status) or the same runJob path a cron call takes, with trigger 'manual'.
 */

/** Who acted, for the log line: never a credential. */
export interface Actor {
  /** 'admin' (the page), 'api:cron-secret', 'api:admin-password'. */
  via: string;
  address: string;
}

export interface JobState {
  job: string;
  paused: boolean;
  lastRun: { startedAt: string; status: string; durationMs: number | null } | null;
  lastSuccessAt: string | null;
}

interface StatusRow {
  job: string;
  enabled: boolean;
  last_run_at: string | Date | null;
  last_run_status: string | null;
  last_run_duration_ms: number | null;
  last_success_at: string | Date | null;
}

const iso = (v: string | Date | null) => (v === null ? null : new Date(v).toISOString());

/** Each job's pause flag and latest run, in the order given (cron_job_status; a job never touched is not paused). */
export async function jobStates(db: Db, jobs: string[]): Promise<JobState[]> {
  const rows = await db.rpc<StatusRow>('cron_job_status', { p_jobs: jobs });
  // cron_job_status has no ORDER BY: put the rows back in the caller's order.
  rows.sort((a, b) => jobs.indexOf(a.job) - jobs.indexOf(b.job));
  return rows.map((r) => ({
    job: r.job,
    paused: !r.enabled,
    lastRun:
      r.last_run_at === null
        ? null
        : {
            startedAt: iso(r.last_run_at)!,
            status: r.last_run_status ?? 'unknown',
            durationMs: r.last_run_duration_ms,
          },
    lastSuccessAt: iso(r.last_success_at),
  }));
}

/**
 * Pause (true) or resume (false) a job: a paused job's route, and Run now, answer 200 `skipped` (reason `paused`). A
 * run already going finishes; only the runs that start later are skipped. Answers whether the flag changed.
 */
export async function setJobPaused(
  db: Db,
  job: string,
  paused: boolean,
  actor: Actor,
): Promise<{ job: string; paused: boolean; changed: boolean }> {
  const [before] = await jobStates(db, [job]);
  await setJobEnabled(db, job, !paused);
  const changed = before?.paused !== paused;
  log('info', paused ? 'operator: pause job' : 'operator: resume job', { job, changed, ...actor });
  return { job, paused, changed };
}

export interface RunNowOptions {
  limit?: number;
  budgetMs?: number;
  dryRun?: boolean;
}

/**
 * Run now: one run through runJob, as a cron call would run it, with trigger 'manual' and the job's own budget (never
 * longer than its route's maxDuration allows). Never throws (runJob records an unexpected error as status 'error').
 */
export function runJobNow(db: Db, job: JobDefinition, actor: Actor, options: RunNowOptions = {}): Promise<RunSummary> {
  log('info', 'operator: run now', { job: job.name, ...actor });
  return runJob(job, {
    db,
    trigger: 'manual',
    budgetMs: budgetFor(job.maxDuration, options.budgetMs),
    limit: options.limit,
    dryRun: options.dryRun,
  });
}
