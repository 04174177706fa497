import { Cron } from 'croner';
import type { Db } from '../db/types.ts';

/**
 * When each account's backlog clears: the claim's rules (the per-account state the claim reads,
 * <singular>_account_state, read through queue_forecast_input) replayed at every scheduled run of the job.
 *
 * At each run time t, for an account with waiting items due by t, as claim_due_<plural> does:
 *   - nothing while the account is not active, or rests (resume_at > t), or the local hour is outside its window;
 *   - the cap counts in the account's local day (or week from Monday); a new local period starts at 0;
 *   - at most (cap − used) items, and only one when it is paced (min_interval > 0), after which it rests
 *     min_interval + jitter seconds.
 * Exact when jitter is 0, every claimed item is sent, and each run can take every account's allowance (the run's
 * limit, `defaultLimit`, is not reached and the run has the time). Jitter is random: the forecast is then a range,
 * `earliestAt` (no jitter) to `clearsAt` (the full jitter every time). Failures, retries, new items and operator
 * actions are not foreseen.
 */

export interface AccountState {
  id: string;
  timezone: string;
  account_status: string;
  status_reason: string | null;
  resume_at: string | null;
  cap_limit: number | null;
  used: number;
  remaining: number;
  period_start: string | null;
  period_end: string | null;
  min_interval: number;
  jitter: number;
  window_start: number | null;
  window_end: number | null;
}

export interface ForecastInput {
  account_id: string;
  name: string;
  /** [due_at, count] of the account's waiting items, soonest first. */
  pending: [string, number][];
  state: AccountState;
  job_paused: boolean;
}

export interface DayCount {
  /** The account's local date, YYYY-MM-DD. */
  day: string;
  n: number;
}

export interface AccountForecast {
  accountId: string;
  name: string;
  timezone: string;
  pending: number;
  /** Why nothing will go out: the account or the job is not running. */
  blocked: 'job_paused' | 'account_paused' | 'account_disconnected' | null;
  /** The run that sends the last item (with the full jitter): null when blocked or not within the horizon. */
  clearsAt: string | null;
  /** The same without jitter (equal to clearsAt for an account without jitter). */
  earliestAt: string | null;
  /** clearsAt's date in the account's zone. */
  clearsOn: string | null;
  /** Items sent per local day (full jitter), from today. */
  days: DayCount[];
  today: number;
  tomorrow: number;
  /** Items still waiting at the end of the horizon. */
  left: number;
}

export interface QueueForecast {
  queue: string;
  at: string;
  horizonDays: number;
  accounts: AccountForecast[];
  /** The last account's clearsAt; null when any account's backlog does not clear within the horizon. */
  clearsAt: string | null;
  pending: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
type LocalParts = { day: string; hour: number; weekday: number };
// Every account of a zone asks about the same run times: Intl is slow, so answers are kept (bounded).
const seen = new Map<string, LocalParts>();
function localParts(t: Date, timeZone: string): LocalParts {
  const key = `${timeZone}|${t.getTime()}`;
  const hit = seen.get(key);
  if (hit) return hit;
  if (seen.size > 200_000) seen.clear();
  const parts = computeLocalParts(t, timeZone);
  seen.set(key, parts);
  return parts;
}

function computeLocalParts(t: Date, timeZone: string): LocalParts {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      hourCycle: 'h23',
    });
    formatters.set(timeZone, f);
  }
  const p = Object.fromEntries(f.formatToParts(t).map((x) => [x.type, x.value]));
  const day = `${p.year}-${p.month}-${p.day}`;
  return { day, hour: Number(p.hour), weekday: new Date(`${day}T00:00:00Z`).getUTCDay() };
}

/** The local period an instant counts in: its local date, or the Monday of its local week. */
function periodKey(t: Date, timeZone: string, period: 'day' | 'week'): string {
  const { day, weekday } = localParts(t, timeZone);
  if (period === 'day') return day;
  const monday = new Date(`${day}T00:00:00Z`);
  monday.setUTCDate(monday.getUTCDate() - ((weekday + 6) % 7));
  return monday.toISOString().slice(0, 10);
}

function inWindow(hour: number, start: number | null, end: number | null): boolean {
  if (start === null || end === null) return true;
  return start < end ? hour >= start && hour < end : hour >= start || hour < end;
}

/** The scheduled run times of a cron expression after `from`, up to `until`. */
export function runTimes(schedule: string, from: Date, until: Date, timezone = 'UTC'): Date[] {
  const cron = new Cron(schedule, { timezone, paused: true });
  const out: Date[] = [];
  let t: Date | null = cron.nextRun(from);
  while (t && t < until) {
    out.push(t);
    t = cron.nextRun(t);
  }
  return out;
}

/** Replays one account's claims at `ticks`; `jitter` picks the pacing rest's random part (0 or its maximum). */
function replay(
  input: ForecastInput,
  period: 'day' | 'week',
  now: Date,
  ticks: Date[],
  jitter: 'none' | 'max',
): { sends: Date[]; counts: number[]; left: number } {
  const s = input.state;
  const queue = input.pending.map(([at, n]) => ({ at: new Date(at).getTime(), n }));
  let left = queue.reduce((a, q) => a + q.n, 0);
  const sends: Date[] = [];
  const counts: number[] = [];
  let head = 0;
  let resume = s.resume_at ? new Date(s.resume_at).getTime() : -Infinity;
  let key = periodKey(now, s.timezone, period);
  let used = s.used;
  for (const t of ticks) {
    if (left === 0) break;
    const ms = t.getTime();
    if (ms < resume) continue;
    // Due items by t, in the claim's order (due_at).
    let due = 0;
    for (let i = head; i < queue.length && queue[i]!.at <= ms; i++) due += queue[i]!.n;
    if (due === 0) continue;
    const { hour } = localParts(t, s.timezone);
    if (!inWindow(hour, s.window_start, s.window_end)) continue;
    const k = s.cap_limit === null ? null : periodKey(t, s.timezone, period);
    if (k !== null && k !== key) {
      key = k;
      used = 0;
    }
    const remaining = s.cap_limit === null ? Number.POSITIVE_INFINITY : Math.max(0, s.cap_limit - used);
    const n = Math.min(due, remaining, s.min_interval > 0 ? 1 : Number.POSITIVE_INFINITY);
    if (n <= 0) continue;
    let rest = n;
    while (rest > 0) {
      const q = queue[head]!;
      const take = Math.min(q.n, rest);
      q.n -= take;
      rest -= take;
      if (q.n === 0) head++;
    }
    used += n;
    left -= n;
    sends.push(t);
    counts.push(n);
    if (s.min_interval > 0) resume = ms + (s.min_interval + (jitter === 'max' ? s.jitter : 0)) * 1000;
  }
  return { sends, counts, left };
}

function addDays(day: string, n: number): string {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

/** The forecast of one queue from its inputs (pure: the test and the API share it). */
export function forecast(
  queue: string,
  period: 'day' | 'week',
  inputs: ForecastInput[],
  ticks: Date[],
  now: Date,
  horizonDays: number,
): QueueForecast {
  const accounts = inputs.map((input): AccountForecast => {
    const s = input.state;
    const pending = input.pending.reduce((a, [, n]) => a + n, 0);
    const today = localParts(now, s.timezone).day;
    const blocked = input.job_paused
      ? 'job_paused'
      : s.account_status === 'disconnected'
        ? 'account_disconnected'
        : s.account_status !== 'active'
          ? 'account_paused'
          : null;
    const base = { accountId: input.account_id, name: input.name, timezone: s.timezone, pending };
    if (blocked) {
      return {
        ...base,
        blocked,
        clearsAt: null,
        earliestAt: null,
        clearsOn: null,
        days: [],
        today: 0,
        tomorrow: 0,
        left: pending,
      };
    }
    const late = replay(input, period, now, ticks, 'max');
    const early = s.jitter > 0 ? replay(input, period, now, ticks, 'none') : late;
    const byDay = new Map<string, number>();
    late.sends.forEach((t, i) => {
      const day = localParts(t, s.timezone).day;
      byDay.set(day, (byDay.get(day) ?? 0) + late.counts[i]!);
    });
    const last = late.left === 0 ? late.sends.at(-1) : undefined;
    const lastEarly = early.left === 0 ? early.sends.at(-1) : undefined;
    return {
      ...base,
      blocked: null,
      clearsAt: last?.toISOString() ?? null,
      earliestAt: lastEarly?.toISOString() ?? null,
      clearsOn: last ? localParts(last, s.timezone).day : null,
      days: [...byDay].map(([day, n]) => ({ day, n })),
      today: byDay.get(today) ?? 0,
      tomorrow: byDay.get(addDays(today, 1)) ?? 0,
      left: late.left,
    };
  });
  const open = accounts.filter((a) => a.pending > 0);
  const clearsAt =
    open.length === 0
      ? now.toISOString()
      : open.some((a) => a.clearsAt === null)
        ? null
        : new Date(Math.max(...open.map((a) => new Date(a.clearsAt!).getTime()))).toISOString();
  return {
    queue,
    at: now.toISOString(),
    horizonDays,
    accounts,
    clearsAt,
    pending: accounts.reduce((n, a) => n + a.pending, 0),
  };
}

export interface ForecastOptions {
  queue: string;
  /** The queue's cap period (queue_policies.cap_period): 'week' for invitations, else 'day'. */
  period: 'day' | 'week';
  /** The job's cron expression and zone (jobs/dm-queue.ts `schedule`). */
  schedule: string;
  scheduleTimezone?: string;
  job: string | null;
  now?: Date;
  horizonDays?: number;
}

/** Reads the queue's state (one round trip) and forecasts it over the job's schedule. */
export async function forecastQueue(db: Db, options: ForecastOptions): Promise<QueueForecast> {
  const now = options.now ?? new Date();
  const horizonDays = options.horizonDays ?? 31;
  const inputs = await db.rpc<ForecastInput>('queue_forecast_input', {
    p_queue: options.queue,
    p_now: now,
    p_job: options.job,
  });
  const ticks = runTimes(
    options.schedule,
    new Date(now.getTime() - 1),
    new Date(now.getTime() + horizonDays * 86_400_000),
    options.scheduleTimezone,
  );
  return forecast(options.queue, options.period, inputs, ticks, now, horizonDays);
}

/** A queue the forecast covers, with its job (the caller passes them: lib does not import jobs). */
export interface ForecastSpec {
  queue: string;
  period: 'day' | 'week';
  job: { name: string; schedule: string; timezone?: string };
}

/** Every spec's forecast at one instant: { dm: …, invitation: … } and the overall clearing time. */
export async function forecastQueues(
  db: Db,
  specs: ForecastSpec[],
  options: { now?: Date; horizonDays?: number } = {},
): Promise<{ at: string; clearsAt: string | null; queues: QueueForecast[] }> {
  const now = options.now ?? new Date();
  const queues = await Promise.all(
    specs.map((s) =>
      forecastQueue(db, {
        queue: s.queue,
        period: s.period,
        schedule: s.job.schedule,
        scheduleTimezone: s.job.timezone,
        job: s.job.name,
        now,
        horizonDays: options.horizonDays,
      }),
    ),
  );
  const clearsAt = queues.some((q) => q.clearsAt === null)
    ? null
    : new Date(Math.max(...queues.map((q) => new Date(q.clearsAt!).getTime()))).toISOString();
  return { at: now.toISOString(), clearsAt, queues };
}
