import type { Db } from '../db/types.ts';

/** One thin typed function per SQL function of supabase/migrations/20261125001500_admin.sql. */

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

export interface AccountUsage {
  id: string;
  name: string;
  timezone: string;
  status: string;
  statusReason: string | null;
  limit: number;
  used: number;
  localDay: string;
  resumeAt: string | null;
}

export type ItemKind = 'dm' | 'post';

export interface ProblemItem {
  kind: ItemKind;
  id: string;
  status: 'failed' | 'uncertain';
  attempts: number;
  lastError: string | null;
  updatedAt: string;
  attemptedAt: string | null;
  account: string;
  /** The DM's recipient, or the post's scheduled time. */
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

export interface AdminOverview {
  now: string;
  installedAt: string | null;
  jobs: JobOverview[];
  dmQueue: { due: number; pending: number; sending: number; uncertain: number; failed: number; sent24h: number };
  posts: {
    due: number;
    scheduled: number;
    publishing: number;
    uncertain: number;
    failed: number;
    published24h: number;
  };
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

/** retry → pending/scheduled (attempts reset), cancel → cancelled, mark-sent → sent/published. */
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
