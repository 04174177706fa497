import { getDb } from './db/index.ts';
import { DeploymentError, deployment } from './deployment.ts';
import { envValue } from './env.ts';
import { log, toErrorMessage } from './log.ts';
import { intervalMs, nextFireAfter, previousFireBefore, type Schedule, schedules } from './schedules.ts';

export interface JobHealth {
  schedule: string;
  /** The zone the schedule is read in (UTC for vercel.json `crons`). */
  timezone: string;
  enabled: boolean;
  lastSuccessAt: string | null;
  /**
   * The latest call: a row recording consecutive zero-work calls (job_runs.calls > 1) has the latest one's start, so
   * this advances on every call, and so does lastSuccessAt when the calls end 'ok'.
   */
  lastRunAt: string | null;
  lastRunStatus: string | null;
  nextDueAt: string | null;
  overdue: boolean;
}

export interface HealthReport {
  /** `misconfigured`: a problem of lib/deployment.ts stops the jobs (no database, no provider, no CRON_SECRET). */
  status: 'ok' | 'degraded' | 'down' | 'misconfigured';
  db: 'ok' | 'unreachable' | 'not configured';
  jobs: Record<string, JobHealth>;
  /** Each one stops the jobs: the status is `misconfigured` (503). */
  problems: string[];
  /** Worth a look, but the jobs run (e.g. ADMIN_PASSWORD unset, a demo part chosen on purpose). */
  warnings: string[];
}

interface StatusRow {
  job: string;
  enabled: boolean;
  last_run_at: string | null;
  last_run_status: string | null;
  last_success_at: string | null;
  installed_at: string | null;
}

export function graceMs(env: NodeJS.ProcessEnv = process.env): number {
  const minutes = Number(envValue(env, 'HEALTH_GRACE_MINUTES') ?? 10);
  return (Number.isFinite(minutes) && minutes >= 0 ? minutes : 10) * 60_000;
}

/**
 * Overdue: the latest scheduled fire whose grace has run out (the last fire at or before now − grace) has no
 * successful run at or after it. Measuring from that fire, not from the most recent one, keeps a job that has missed
 * many fires overdue during each new fire's grace too, instead of flapping back to healthy every interval.
 * A job that never ran is overdue only once a full interval plus the grace has passed since the schema was installed.
 * A paused job is never overdue: somebody chose to stop it.
 */
export function isOverdue(
  row: Pick<StatusRow, 'enabled' | 'last_success_at' | 'installed_at'>,
  expression: string,
  now: Date,
  grace: number,
  timezone = 'UTC',
): boolean {
  if (!row.enabled) return false;
  const due = previousFireBefore(expression, new Date(now.getTime() - grace), timezone);
  if (!due) return false;
  if (row.last_success_at) return new Date(row.last_success_at).getTime() < due.getTime();
  const installed = row.installed_at ? new Date(row.installed_at).getTime() : now.getTime();
  return now.getTime() > installed + intervalMs(expression, new Date(installed), timezone) + grace;
}

/** `list`: the schedules of vercel.json (both keys); a test may pass its own. */
export async function healthReport(now: Date = new Date(), list: Schedule[] = schedules()): Promise<HealthReport> {
  const config = deployment();
  const verdict = { problems: config.problems, warnings: config.warnings };
  if (config.problems.length > 0) log('error', 'health: misconfigured', { problems: config.problems });
  let rows: StatusRow[];
  try {
    // No database configured: open nothing (in production that would be an embedded database on a throwaway disk).
    if (config.database.transport === null) throw new DeploymentError(config.database.error);
    const db = await getDb();
    rows = await db.rpc<StatusRow>('cron_job_status', { p_jobs: list.map((s) => s.job) });
  } catch (e) {
    const unconfigured = e instanceof DeploymentError;
    if (!unconfigured) log('error', 'health: database unreachable', { error: toErrorMessage(e) });
    const jobs: Record<string, JobHealth> = {};
    for (const s of list) {
      jobs[s.job] = {
        schedule: s.schedule,
        timezone: s.timezone,
        enabled: true,
        lastSuccessAt: null,
        lastRunAt: null,
        lastRunStatus: null,
        nextDueAt: nextFireAfter(s.schedule, now, s.timezone)?.toISOString() ?? null,
        overdue: false,
      };
    }
    const status = config.problems.length > 0 ? 'misconfigured' : 'down';
    return { status, db: unconfigured ? 'not configured' : 'unreachable', jobs, ...verdict };
  }
  const grace = graceMs();
  const jobs: Record<string, JobHealth> = {};
  let anyOverdue = false;
  for (const s of list) {
    const row = rows.find((r) => r.job === s.job) ?? {
      job: s.job,
      enabled: true,
      last_run_at: null,
      last_run_status: null,
      last_success_at: null,
      installed_at: null,
    };
    // A Schedules run may start up to its jitter after the scheduled time: that much more grace.
    const overdue = isOverdue(row, s.schedule, now, grace + s.jitterMinutes * 60_000, s.timezone);
    anyOverdue ||= overdue;
    jobs[s.job] = {
      schedule: s.schedule,
      timezone: s.timezone,
      enabled: row.enabled,
      lastSuccessAt: row.last_success_at,
      lastRunAt: row.last_run_at,
      lastRunStatus: row.last_run_status,
      nextDueAt: nextFireAfter(s.schedule, now, s.timezone)?.toISOString() ?? null,
      overdue,
    };
  }
  const status = config.problems.length > 0 ? 'misconfigured' : anyOverdue ? 'degraded' : 'ok';
  return { status, db: 'ok', jobs, ...verdict };
}
