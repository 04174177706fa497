import type { Db } from '../../lib/db/types.ts';
import { sql } from './db.ts';

export interface AccountInput {
  name?: string;
  timezone?: string;
  status?: string;
  dm_daily_limit?: number;
  unipile_account_id?: string | null;
  dm_min_interval_seconds?: number;
  dm_jitter_seconds?: number;
  dm_window_start_hour?: number | null;
  dm_window_end_hour?: number | null;
}

export async function insertAccount(db: Db, input: AccountInput = {}): Promise<string> {
  const rows = await sql<{ id: string }>(
    db,
    `insert into accounts (name, timezone, status, dm_daily_limit, unipile_account_id, dm_min_interval_seconds, dm_jitter_seconds,
                           dm_window_start_hour, dm_window_end_hour)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning id`,
    [
      input.name ?? 'acct',
      input.timezone ?? 'UTC',
      input.status ?? 'active',
      input.dm_daily_limit ?? 25,
      input.unipile_account_id === undefined
        ? `prov-${Math.random().toString(36).slice(2, 10)}`
        : input.unipile_account_id,
      input.dm_min_interval_seconds ?? 0,
      input.dm_jitter_seconds ?? 0,
      input.dm_window_start_hour ?? null,
      input.dm_window_end_hour ?? null,
    ],
  );
  return rows[0]!.id;
}

export interface DmInput {
  recipient_id?: string;
  body?: string;
  send_at?: Date;
  status?: string;
  sent_at?: Date | null;
  attempted_at?: Date | null;
}

/** Inserts `count` DMs for an account; returns their ids in insertion order. */
export async function insertDms(db: Db, accountId: string, count: number, input: DmInput = {}): Promise<string[]> {
  const rows = await sql<{ id: string }>(
    db,
    `insert into dm_queue (account_id, recipient_id, body, send_at, status, sent_at, attempted_at)
     select $1, coalesce($2, 'r-' || g), coalesce($3, 'hello ' || g), $4, $5, $6, $7
       from generate_series(1, $8::int) g
     returning id`,
    [
      accountId,
      input.recipient_id ?? null,
      input.body ?? null,
      (input.send_at ?? new Date('2026-01-01T00:00:00Z')).toISOString(),
      input.status ?? 'pending',
      input.sent_at ? input.sent_at.toISOString() : null,
      input.attempted_at ? input.attempted_at.toISOString() : null,
      count,
    ],
  );
  return rows.map((r) => r.id);
}

export async function statusCounts(db: Db, table = 'dm_queue'): Promise<Record<string, number>> {
  const rows = await sql<{ status: string; n: number }>(
    db,
    `select status, count(*)::int as n from ${table} group by status`,
  );
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}
