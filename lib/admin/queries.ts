import type { Db } from '../db/types.ts';
import { log, toErrorMessage } from '../log.ts';
import { type Explanation, explainItems, type WaitingReason, waitingReasons } from '../queue-reasons/index.ts';

/**
 * One thin typed function per SQL function of /admin (supabase/migrations/20261125001500_admin.sql, made generic over
 * every account-keyed queue by 20261201000500_admin_generic.sql).
 */

export interface LastRun {
  id: string;
  trigger: string;
  status: string;
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
  error: string | null;
  reason: string | null;
}

export interface JobOverview {
  job: string;
  enabled: boolean;
  lockUntil: string | null;
  lastRun: LastRun | null;
  lastSuccessAt: string | null;
}

/** A queue's name, as queue_policies spells it ('dm', 'post', 'invitation', …): the kind of its items. */
export type ItemKind = string;

/** The same rule as queue_policies_name: what a queue name (and so an item kind) may look like. */
export const QUEUE_NAME = /^[a-z][a-z0-9_]{0,30}$/;

export type CapPeriod = 'day' | 'week';

/** One account-keyed queue: its own status words, open items by status (exact), and what finished in 24 hours. */
export interface QueueDepth {
  queue: ItemKind;
  table: string;
  waitingStatus: string;
  activeStatus: string;
  doneStatus: string;
  /** The period its cap counts in; null for an uncapped queue (posts). */
  capPeriod: CapPeriod | null;
  due: number;
  waiting: number;
  active: number;
  uncertain: number;
  failed: number;
  done24h: number;
}

/** One capped queue's use of one account's cap in the account's current local period, counted as the claim counts. */
export interface QueueUsage {
  queue: ItemKind;
  limit: number;
  period: CapPeriod;
  /** The local date (YYYY-MM-DD) the period started: today, or this week's Monday, in the account's time zone. */
  localPeriodStart: string;
  used: number;
  resumeAt: string | null;
}

export interface AccountUsage {
  id: string;
  name: string;
  timezone: string;
  status: string;
  statusReason: string | null;
  /** Today's date in the account's time zone. */
  localDay: string;
  /** One entry per capped queue, in the order of `queues`. */
  usage: QueueUsage[];
}

export interface ProblemItem {
  kind: ItemKind;
  id: string;
  status: 'failed' | 'uncertain';
  attempts: number;
  lastError: string | null;
  updatedAt: string;
  attemptedAt: string | null;
  /** When it was (last) due: a post's scheduled time, a DM's send_at. */
  dueAt: string | null;
  account: string;
  /** What it is sent to (a DM's or an invitation's recipient); null for a queue without one (posts). */
  target: string | null;
  preview: string;
}

export interface DailyFigures {
  day: string;
  source: 'rollup' | 'live';
  dmsSent: number;
  dmsFailed: number;
  postsPublished: number;
}

/** What admin_overview returns (supabase/migrations/20261201000500_admin_generic.sql). */
export interface AdminOverview {
  now: string;
  installedAt: string | null;
  jobs: JobOverview[];
  /** Every account-keyed queue of queue_policies. */
  queues: QueueDepth[];
  accountCount: number;
  accounts: AccountUsage[];
  problems: ProblemItem[];
  daily: DailyFigures[];
}

async function scalar<T>(db: Db, fn: string, args: Record<string, unknown>): Promise<T> {
  const [row] = await db.rpc<Record<string, unknown>>(fn, args);
  if (!row) throw new Error(`${fn} returned nothing`);
  return row[fn] as T;
}

export function adminOverview(db: Db, options: { jobs: string[]; now?: Date }): Promise<AdminOverview> {
  return scalar<AdminOverview>(db, 'admin_overview', { p_jobs: options.jobs, p_now: options.now });
}

export interface RunRow {
  id: string;
  job: string;
  trigger: string;
  status: string;
  started_at: string;
  finished_at: string | null;
  duration_ms: number | null;
  claimed: number;
  succeeded: number;
  failed: number;
  retried: number;
  uncertain: number;
  remaining: number;
  depth: number;
  reason: string | null;
  error: string | null;
  /** Calls the row records: more than 1 for consecutive zero-work (or skipped) calls, started_at being the latest. */
  calls: number;
  /** The first of those calls; null for a single call. */
  first_started_at: string | null;
}

export function recentRuns(db: Db, filter: { job?: string; status?: string; limit?: number } = {}): Promise<RunRow[]> {
  return db.rpc<RunRow>('admin_recent_runs', {
    p_job: filter.job ?? null,
    p_status: filter.status ?? null,
    p_limit: filter.limit ?? 50,
  });
}

export type ItemResult = { ok: true; status: string } | { ok: false; reason: string };
export type ItemAction = 'retry' | 'cancel' | 'mark-sent';

const ITEM_FUNCTIONS: Record<ItemAction, string> = {
  retry: 'admin_retry_item',
  cancel: 'admin_cancel_item',
  'mark-sent': 'admin_mark_sent',
};

/** retry → the queue's waiting status (attempts reset), cancel → cancelled, mark-sent → its done status. */
export function resolveItem(
  db: Db,
  action: ItemAction,
  item: { kind: ItemKind; id: string },
  now?: Date,
): Promise<ItemResult> {
  const fn = ITEM_FUNCTIONS[action];
  return scalar<ItemResult>(db, fn, { p_kind: item.kind, p_id: item.id, p_now: now });
}

/** Pause (false) or resume (true): a paused job's route answers 200 with status 'skipped'. */
export async function setJobEnabled(db: Db, job: string, enabled: boolean): Promise<void> {
  await db.rpc('cron_set_enabled', { p_job: job, p_enabled: enabled });
}

// ---- Why items wait (issue 15): the reasons and the caps' reset times, from the claim's own rules. ----

/** Reasons for /admin: the waiting breakdown per queue, each problem item's reason, and when each cap resets. */
export interface AdminReasons {
  /** queue → waiting items counted by reason (with a few examples). */
  waiting: Record<ItemKind, WaitingReason[]>;
  /** `<kind>:<id>` → the reason of a listed failed or uncertain item. */
  problems: Record<string, Explanation>;
  /** accountId → queue → when the account's current cap period ends (the counter resets), as a UTC instant. */
  resets: Record<string, Record<ItemKind, string | null>>;
}

/**
 * A queue whose state function is not named after it (queue_define's singular differs from the queue's name) has no
 * explanation yet: the page shows the rest instead of failing (logged once per render).
 */
async function orEmpty<T>(queue: string, p: Promise<T[]>): Promise<T[]> {
  try {
    return await p;
  } catch (e) {
    log('warn', 'admin: no reasons for a queue', { queue, error: toErrorMessage(e) });
    return [];
  }
}

export async function adminReasons(
  db: Db,
  input: { queues: QueueDepth[]; problems: ProblemItem[]; accountIds: string[]; now: Date },
): Promise<AdminReasons> {
  const { queues, problems, accountIds, now } = input;
  const [waiting, explained, states] = await Promise.all([
    Promise.all(
      queues.map(async (q) => [q.queue, await orEmpty(q.queue, waitingReasons(db, q.queue, { now }))] as const),
    ),
    Promise.all(
      queues.map((q) => {
        const ids = problems.filter((p) => p.kind === q.queue).map((p) => p.id);
        return ids.length ? orEmpty(q.queue, explainItems(db, q.queue, ids, { now })) : Promise.resolve([]);
      }),
    ),
    Promise.all(
      queues
        .filter((q) => q.capPeriod !== null && accountIds.length > 0)
        .map(async (q) => {
          const rows = await orEmpty(
            q.queue,
            db.rpc<{ id: string; period_end: string | null }>(`${q.queue}_account_state`, {
              p_accounts: accountIds,
              p_now: now,
            }),
          );
          return [q.queue, rows] as const;
        }),
    ),
  ]);
  const resets: AdminReasons['resets'] = {};
  for (const [queue, rows] of states) {
    for (const r of rows) {
      resets[r.id] ??= {};
      resets[r.id]![queue] = r.period_end;
    }
  }
  const byItem: AdminReasons['problems'] = {};
  queues.forEach((q, i) => {
    for (const e of explained[i]!) byItem[`${q.queue}:${e.id}`] = e;
  });
  return { waiting: Object.fromEntries(waiting), problems: byItem, resets };
}
