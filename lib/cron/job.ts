import type { Db } from '../db/types.ts';
import type { Budget } from './budget.ts';
import type { PolicyOverride } from './policy.ts';

/** `external`: another scheduler than Vercel's (Cloud Scheduler, GitHub Actions, Supabase Cron; lib/cron/occurrence.ts). */
export type Trigger = 'cron' | 'external' | 'manual' | 'continuation';
export type RunStatus = 'ok' | 'partial' | 'skipped' | 'error';

/** What a job reports; every field the summary has, 0 when unused. */
export interface JobResult {
  claimed: number;
  succeeded: number;
  failed: number;
  retried: number;
  uncertain: number;
  /** Work still waiting when the run ended (a job may cap the count). */
  remaining: number;
  /** True when the run stopped with work left that it could have done (budget or limit ran out). */
  hasMore: boolean;
  /** The job's resume position, stored with the run for the record. */
  cursor?: unknown;
  /** Anything else worth a line in the log and the run row (counts only: never message bodies). */
  details?: Record<string, number | string | boolean | null>;
  /**
   * The run found nothing to do and changed nothing: consecutive zero-work calls of a job share one job_runs row
   * (a call count and a time range; cron_run_end).
   */
  zeroWork?: boolean;
}

export interface RunContext {
  db: Db;
  runId: string;
  job: string;
  trigger: Trigger;
  depth: number;
  budget: Budget;
  /** ?limit: at most this many items this run. */
  limit: number;
  dryRun: boolean;
  /** The run's clock; SQL functions get it as p_now so tests can move time. */
  now: () => Date;
  /** The deployment's override of the queues' retry policy (JOB_MAX_ATTEMPTS, JOB_BACKOFF_SECONDS), if any. */
  policy: PolicyOverride;
  /** Aborted when the run must stop at once (the platform is about to end the function). */
  signal: AbortSignal;
  /** Single-flight jobs call this between chunks to keep their lease. */
  extendLease: () => Promise<void>;
  /**
   * The job's probe (JobDefinition.probe) answered in the run's first round trip that nothing is due: the run may
   * return at once as zero work. Always false for a job without a probe and for dry runs.
   */
  nothingDue: boolean;
}

export interface JobDefinition {
  name: string;
  /** Five-field cron expression: `vercel.json` must schedule the job's route with it (npm run check:vercel). */
  schedule?: string;
  /** IANA zone of `schedule` (default UTC); a zone other than UTC needs a `schedules` entry, not a cron. */
  timezone?: string;
  /** Must equal the route file's `export const maxDuration` (a test checks). */
  maxDuration: number;
  /** Default items per run when ?limit is not given. */
  defaultLimit: number;
  /** Only one run at a time (a lease on the job's cron_state row); the loser answers `skipped`. */
  singleFlight?: boolean;
  /** How many continuation calls a partial run may chain (0 = none). */
  maxContinuations?: number;
  /**
   * A SQL function `public.<probe>(p_now timestamptz) returns boolean`, evaluated inside the run's start: false only
   * when a run would find nothing to claim, reap or reconcile (the same conditions as the claim, never stricter).
   * Then the run gets `nothingDue` and, returning at once, costs two round trips (supabase/migrations/
   * 20261202000200_zero_work_runs.sql).
   */
  probe?: string;
  run(ctx: RunContext): Promise<JobResult>;
}

export function defineJob(def: JobDefinition): JobDefinition {
  if (!/^[a-z0-9-]+$/.test(def.name)) throw new Error(`job name must be kebab-case: ${def.name}`);
  if (def.probe !== undefined && !/^[a-z][a-z0-9_]{0,62}$/.test(def.probe))
    throw new Error(`${def.name}: probe must name a SQL function (snake_case): ${def.probe}`);
  if (!Number.isInteger(def.maxDuration) || def.maxDuration < 5)
    throw new Error(`${def.name}: maxDuration must be a whole number of seconds ≥ 5`);
  return def;
}

export function emptyResult(): JobResult {
  return { claimed: 0, succeeded: 0, failed: 0, retried: 0, uncertain: 0, remaining: 0, hasMore: false };
}
