import type { JobDefinition } from '../cron/job.ts';
import { inZone, nextFireAfter, type Schedule, schedules } from '../schedules.ts';
import { describeCron } from './describe-cron.ts';

export interface AdminJob {
  job: string;
  /** Null for a registered job that vercel.json does not schedule (it runs only when triggered). */
  path: string | null;
  schedule: string | null;
  /** The zone the schedule is read in: UTC for `crons`, the entry's `timezone` for `schedules`. */
  timezone: string | null;
  /** Which key of vercel.json schedules it. */
  source: Schedule['source'] | null;
  description: string;
  nextRunAt: string | null;
  /** The next run as the schedule's zone reads it, e.g. `2026-12-02 09:00 Europe/Berlin`. */
  nextRunLocal: string | null;
  definition: JobDefinition | undefined;
}

/**
 * Every job /admin shows: each schedule of vercel.json (`crons`, then `schedules`) in its order, then any job of
 * `registry` without one. The registry comes from the caller (the app passes jobs/index.ts): lib sits below jobs and
 * never imports it. `list` is vercel.json's schedules; a test may pass its own.
 */
export function adminJobs(
  registry: Readonly<Record<string, JobDefinition>>,
  now: Date = new Date(),
  list: Schedule[] = schedules(),
): AdminJob[] {
  const rows: AdminJob[] = list.map((s) => {
    const next = nextFireAfter(s.schedule, now, s.timezone);
    return {
      job: s.job,
      path: s.path,
      schedule: s.schedule,
      timezone: s.timezone,
      source: s.source,
      // describeCron speaks of UTC, the zone of every cron; a schedule says its own.
      description: describeCron(s.schedule).replaceAll('UTC', s.timezone),
      nextRunAt: next?.toISOString() ?? null,
      nextRunLocal: next ? inZone(next, s.timezone) : null,
      definition: registry[s.job],
    };
  });
  for (const [name, definition] of Object.entries(registry)) {
    if (!rows.some((j) => j.job === name))
      rows.push({
        job: name,
        path: null,
        schedule: null,
        timezone: null,
        source: null,
        description: 'no schedule in vercel.json',
        nextRunAt: null,
        nextRunLocal: null,
        definition,
      });
  }
  return rows;
}

/** A run still 'running' past its platform limit was killed before it could record its end. */
export function isLostRun(
  status: string,
  startedAt: string,
  definition: JobDefinition | undefined,
  now: Date,
): boolean {
  if (status !== 'running') return false;
  const limitMs = ((definition?.maxDuration ?? 300) + 30) * 1000;
  return now.getTime() - new Date(startedAt).getTime() > limitMs;
}
