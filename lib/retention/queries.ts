import type { Db } from '../db/types.ts';
import type { RetentionDays, RetentionKind } from './settings.ts';

/** One thin typed function per SQL function of retention (supabase/migrations/*_retention.sql). */

/** Deletes at most `limit` rows of `kind` older than `keepDays` at `now`, oldest first; returns how many. */
export async function pruneOnce(
  db: Db,
  args: { kind: RetentionKind; keepDays: number; limit: number; now: Date },
): Promise<number> {
  const [row] = await db.rpc<{ retention_prune: number | string }>('retention_prune', {
    p_kind: args.kind,
    p_keep_days: args.keepDays,
    p_limit: args.limit,
    p_now: args.now,
  });
  return Number(row?.retention_prune ?? 0);
}

export interface RetentionRow {
  kind: RetentionKind;
  table: string;
  keepDays: number;
  /** The kind's rows present now. */
  kept: number;
  /** The oldest of them (ISO), or null when there are none. */
  oldestAt: string | null;
  /** Rows older than the retention, capped at 10,001: the next run prunes them, bar each job's latest run/success. */
  pastRetention: number;
}

/** What retention keeps, per kind: the row /admin shows ("what is kept"). */
export async function retentionOverview(db: Db, days: RetentionDays, now: Date = new Date()): Promise<RetentionRow[]> {
  const rows = await db.rpc<{
    kind: RetentionKind;
    table_name: string;
    keep_days: number;
    kept: number | string;
    oldest_at: string | Date | null;
    past_retention: number | string;
  }>('retention_overview', {
    p_skipped_runs_days: days.skipped_runs,
    p_runs_days: days.runs,
    p_webhook_deliveries_days: days.webhook_deliveries,
    p_sync_jobs_days: days.sync_jobs,
    p_now: now,
  });
  return rows.map((r) => ({
    kind: r.kind,
    table: r.table_name,
    keepDays: Number(r.keep_days),
    kept: Number(r.kept),
    oldestAt: r.oldest_at === null ? null : new Date(r.oldest_at).toISOString(),
    pastRetention: Number(r.past_retention),
  }));
}
