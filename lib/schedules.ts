import { Cron } from 'croner';
import vercel from '../vercel.json' with { type: 'json' };

export interface Schedule {
  /** The job's name: the last segment of its route path, /api/cron/<job>. */
  job: string;
  path: string;
  /** Five-field cron expression, evaluated in UTC as Vercel does. */
  schedule: string;
}

const CRON_PATH = /^\/api\/cron\/([a-z0-9-]+)$/;

export function schedules(config: { crons?: { path: string; schedule: string }[] } = vercel): Schedule[] {
  return (config.crons ?? []).map((c) => {
    const m = CRON_PATH.exec(c.path.split('?')[0] ?? '');
    if (!m) throw new Error(`vercel.json cron path must be /api/cron/<job>: ${c.path}`);
    return { job: m[1]!, path: c.path, schedule: c.schedule };
  });
}

function cron(expression: string): Cron {
  // Vercel Cron runs in UTC.
  return new Cron(expression, { timezone: 'UTC', paused: true });
}

export function nextFireAfter(expression: string, from: Date): Date | null {
  return cron(expression).nextRun(from);
}

export function previousFireBefore(expression: string, ref: Date): Date | null {
  return cron(expression).previousRuns(1, ref)[0] ?? null;
}

/** The shortest gap between two fire times (looked at over the next few fires). */
export function intervalMs(expression: string, from: Date = new Date()): number {
  const runs = cron(expression).nextRuns(6, from);
  let min = Number.POSITIVE_INFINITY;
  for (let i = 1; i < runs.length; i++) min = Math.min(min, runs[i]!.getTime() - runs[i - 1]!.getTime());
  return Number.isFinite(min) ? min : 24 * 3600_000;
}
