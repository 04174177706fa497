import type { Db } from '../db/types.ts';

/** One thin typed function per SQL function of the nightly analytics (supabase/migrations/*_analytics.sql). */

/** A UTC day as `YYYY-MM-DD`. */
export type Day = string;

export interface PendingDay {
  day: Day;
  cursor_account_id: string | null;
  accounts: number;
}

export interface ChunkResult {
  day: Day;
  /** Accounts aggregated by this chunk (0 when the day was already complete or no account was left). */
  accounts: number;
  /** The day's cursor after the chunk: the last account aggregated. */
  last_account_id: string | null;
  /** The day is complete and rolled up. */
  day_done: boolean;
}

/** Dates come back as Date objects from the drivers (at UTC midnight on the server's UTC clock) or as strings. */
function toDay(value: unknown): Day {
  if (value instanceof Date) return value.toISOString().slice(0, 10);
  return String(value).slice(0, 10);
}

/** Yesterday plus every earlier day of the look-back window that is not complete, oldest first. */
export async function planAnalyticsDays(db: Db, args: { now: Date; lookbackDays?: number }): Promise<PendingDay[]> {
  const rows = await db.rpc<PendingDay>('analytics_plan_days', {
    p_now: args.now,
    p_lookback_days: args.lookbackDays,
  });
  return rows.map((r) => ({ ...r, day: toDay(r.day) }));
}

/** Aggregates the day's next `limit` accounts and advances its cursor in the same statement. */
export async function runAnalyticsChunk(db: Db, args: { day: Day; limit: number; now: Date }): Promise<ChunkResult> {
  const [row] = await db.rpc<ChunkResult>('analytics_run_chunk', {
    p_day: args.day,
    p_limit: args.limit,
    p_now: args.now,
  });
  if (!row) throw new Error('analytics_run_chunk returned nothing');
  return { ...row, day: toDay(row.day) };
}

/** Puts a day of the look-back window back on the work list, from its first account. */
export function resetAnalyticsDay(db: Db, day: Day): Promise<boolean> {
  return db
    .rpc<{ analytics_reset_day: boolean }>('analytics_reset_day', { p_day: day })
    .then((r) => r[0]?.analytics_reset_day ?? false);
}
