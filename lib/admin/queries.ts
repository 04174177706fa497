import type { Db } from '../db/types.ts';

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
