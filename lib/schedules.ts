import { Cron } from 'croner';
import vercel from '../vercel.json' with { type: 'json' };

/**
 * The one reader of `vercel.json`'s schedules: the local runner, /admin, /api/health, the routes (to place a delivery
 * in its occurrence) and `npm run check:vercel` all take the list from here.
 *
 * Two keys may hold them (Vercel, /docs/schedules/migrate-from-cron-jobs):
 * - `crons: [{ path, schedule }]`: Cron Jobs, the legacy feature, always UTC;
 * - `schedules: { <name>: { schedule, timezone?, jitter?, path | function | topic, requestMethod? } }`: Schedules.
 *   A `path` target calls the route exactly as a cron does; `function` and `topic` targets do not reach
 *   /api/cron/<job>, so this project reports them as unsupported instead of running them.
 */
export interface Schedule {
  /** The job's name: the last segment of its route path, /api/cron/<job>. */
  job: string;
  path: string;
  /** Five-field cron expression, evaluated in `timezone`. */
  schedule: string;
  /** IANA zone the expression is read in: always UTC for `crons`. */
  timezone: string;
  /**
   * Minutes Vercel may start a run after its scheduled time: 0 for `crons`, the entry's `jitter` for `schedules`, or
   * the default of 1 when it gives none (Pro/Enterprise; Hobby always uses 15, so set it there: check:vercel says so).
   */
  jitterMinutes: number;
  source: 'crons' | 'schedules';
  /** The key of a `schedules` entry; null for `crons`. */
  name: string | null;
}

export interface CronEntry {
  path: string;
  schedule: string;
}

export interface ScheduleEntry {
  schedule: string;
  timezone?: string;
  jitter?: number;
  path?: string;
  function?: string;
  topic?: string;
  requestMethod?: string;
}

export interface VercelSchedules {
  crons?: CronEntry[];
  schedules?: Record<string, ScheduleEntry>;
}

/** A `schedules` entry whose target this project cannot run (a private function or a queue topic). */
export interface UnsupportedSchedule {
  name: string;
  target: 'function' | 'topic' | 'none';
  message: string;
}

export const DEFAULT_JITTER_MINUTES = 1;
const CRON_PATH = /^\/api\/cron\/([a-z0-9-]+)$/;

export function jobOfPath(cronPath: string): string | null {
  return CRON_PATH.exec(cronPath)?.[1] ?? null;
}

export function unsupportedMessage(name: string, entry: ScheduleEntry): UnsupportedSchedule | null {
  if (typeof entry.path === 'string') return null;
  if (typeof entry.function === 'string')
    return {
      name,
      target: 'function',
      message:
        `schedules.${name} targets the function "${entry.function}": this project runs its jobs through the ` +
        'public path /api/cron/<job> (the same runJob, the same secret); give it "path": "/api/cron/<job>" instead',
    };
  if (typeof entry.topic === 'string')
    return {
      name,
      target: 'topic',
      message:
        `schedules.${name} targets the queue topic "${entry.topic}": this project's queues are Postgres tables ` +
        'drained by /api/cron/<job>, not Vercel Queues; give it "path": "/api/cron/<job>" instead',
    };
  return { name, target: 'none', message: `schedules.${name} has no target: give it "path": "/api/cron/<job>"` };
}

/** Both keys, in file order (crons first), with the entries this project cannot run set apart. */
export function readSchedules(config: VercelSchedules = vercel as VercelSchedules): {
  schedules: Schedule[];
  unsupported: UnsupportedSchedule[];
} {
  const list: Schedule[] = [];
  const unsupported: UnsupportedSchedule[] = [];
  for (const c of config.crons ?? []) {
    const job = jobOfPath(c.path.split('?')[0] ?? '');
    if (!job) throw new Error(`vercel.json cron path must be /api/cron/<job>: ${c.path}`);
    list.push({
      job,
      path: c.path,
      schedule: c.schedule,
      timezone: 'UTC',
      jitterMinutes: 0,
      source: 'crons',
      name: null,
    });
  }
  for (const [name, entry] of Object.entries(config.schedules ?? {})) {
    const problem = unsupportedMessage(name, entry);
    if (problem) {
      unsupported.push(problem);
      continue;
    }
    const job = jobOfPath(entry.path!.split('?')[0] ?? '');
    if (!job) throw new Error(`vercel.json schedules.${name}.path must be /api/cron/<job>: ${entry.path}`);
    list.push({
      job,
      path: entry.path!,
      schedule: entry.schedule,
      timezone: entry.timezone ?? 'UTC',
      jitterMinutes: typeof entry.jitter === 'number' ? entry.jitter : DEFAULT_JITTER_MINUTES,
      source: 'schedules',
      name,
    });
  }
  return { schedules: list, unsupported };
}

export function schedules(config: VercelSchedules = vercel as VercelSchedules): Schedule[] {
  return readSchedules(config).schedules;
}

/** A zone is valid when the runtime's time-zone database knows it under exactly this name (case included). */
export function isValidTimezone(zone: string): boolean {
  // A name, not an offset: Intl also takes "+01:00", which Vercel's timezone field does not promise to.
  if (zone.length > 64 || !/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/.test(zone)) return false;
  try {
    const resolved = new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone;
    return resolved === zone || zone === 'UTC' || Intl.supportedValuesOf('timeZone').includes(zone);
  } catch {
    return false;
  }
}

/** Throws on an expression the runner could not schedule (croner's own message) and on an unknown zone. */
export function parseCron(expression: string, timezone = 'UTC'): Cron {
  // croner accepts any string as a zone and then fires at odd times: check it first.
  if (!isValidTimezone(timezone)) throw new Error(`unknown time zone "${timezone}" (an IANA name, e.g. Europe/Berlin)`);
  return new Cron(expression, { timezone, paused: true });
}

/** The first fire strictly after `from`, in the expression's zone (DST-correct: croner works in the zone's wall time). */
export function nextFireAfter(expression: string, from: Date, timezone = 'UTC'): Date | null {
  return parseCron(expression, timezone).nextRun(from);
}

/** The last fire strictly before `ref`. */
export function previousFireBefore(expression: string, ref: Date, timezone = 'UTC'): Date | null {
  return parseCron(expression, timezone).previousRuns(1, ref)[0] ?? null;
}

/** The shortest gap between two fire times (looked at over the next few fires). */
export function intervalMs(expression: string, from: Date = new Date(), timezone = 'UTC'): number {
  const runs = parseCron(expression, timezone).nextRuns(6, from);
  let min = Number.POSITIVE_INFINITY;
  for (let i = 1; i < runs.length; i++) min = Math.min(min, runs[i]!.getTime() - runs[i - 1]!.getTime());
  return Number.isFinite(min) ? min : 24 * 3600_000;
}

/** `2026-12-02 09:00 Europe/Berlin`: a fire time as the schedule's own zone reads it. */
export function inZone(at: Date, timezone: string): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-GB', {
      timeZone: timezone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    })
      .formatToParts(at)
      .map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute} ${timezone}`;
}
