import type { JobDefinition } from '../cron/job.ts';
import { nextFireAfter, schedules } from '../schedules.ts';
import { describeCron } from './describe-cron.ts';

export interface AdminJob {
  job: string;
  /** Null for a registered job that vercel.json does not schedule (it runs only when triggered). */
  path: string | null;
  schedule: string | null;
  description: string;
  nextRunAt: string | null;
  definition: JobDefinition | undefined;
}

/**
 * Every job /admin shows: each cron of vercel.json in its order, then any job of `registry` without one. The registry
 * comes from the caller (the app passes jobs/index.ts): lib sits below jobs and never imports it.
 */
export function adminJobs(registry: Readonly<Record<string, JobDefinition>>, now: Date = new Date()): AdminJob[] {
  const list: AdminJob[] = schedules().map((s) => ({
    job: s.job,
    path: s.path,
    schedule: s.schedule,
    description: describeCron(s.schedule),
    nextRunAt: nextFireAfter(s.schedule, now)?.toISOString() ?? null,
    definition: registry[s.job],
  }));
  for (const [name, definition] of Object.entries(registry)) {
    if (!list.some((j) => j.job === name))
      list.push({
        job: name,
        path: null,
        schedule: null,
        description: 'no cron in vercel.json',
        nextRunAt: null,
        definition,
      });
  }
  return list;
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
