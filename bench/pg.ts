import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { migrate } from '../lib/db/migrate.ts';
import { openPostgres } from '../lib/db/postgres.ts';
import type { Db } from '../lib/db/types.ts';

export const DEFAULT_SERVER_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/** The server the bench creates its databases on: BENCH_DATABASE_URL, or the local default (printed by run.ts). */
export function serverUrl(): { url: string; fromEnv: boolean } {
  const url = process.env.BENCH_DATABASE_URL;
  return url ? { url, fromEnv: true } : { url: DEFAULT_SERVER_URL, fromEnv: false };
}

/** The URL with the password hidden, for printing. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

const RUN_TAG = randomBytes(3).toString('hex');
const created = new Set<string>();

function admin(): postgres.Sql {
  return postgres(serverUrl().url, { max: 1, onnotice: () => {}, connection: { application_name: 'bench-admin' } });
}

/** A fresh empty database `bench_<tag>_<what>` on the server; dropped by dropAllDatabases(). */
export async function createDatabase(what: string): Promise<string> {
  const name = `bench_${RUN_TAG}_${what}`;
  const sql = admin();
  try {
    await sql.unsafe(`drop database if exists ${name} with (force)`);
    await sql.unsafe(`create database ${name}`);
  } finally {
    await sql.end();
  }
  created.add(name);
  const u = new URL(serverUrl().url);
  u.pathname = `/${name}`;
  return u.toString();
}

/** A fresh database with the project's migrations applied, and a Db on it. */
export async function createMigratedDatabase(what: string, poolMax = 4): Promise<{ url: string; db: Db }> {
  const url = await createDatabase(what);
  const db = openPostgres(url, { max: poolMax });
  // BENCH_MIGRATIONS_DIR: measure against a snapshot of the migrations instead of the working tree's.
  await migrate(db, process.env.BENCH_MIGRATIONS_DIR || undefined);
  return { url, db };
}

export async function dropDatabase(url: string): Promise<void> {
  const name = new URL(url).pathname.slice(1);
  const sql = admin();
  try {
    await sql.unsafe(`drop database if exists ${name} with (force)`);
  } finally {
    await sql.end();
  }
  created.delete(name);
}

/** Drops every database this process created (called at the end and on Ctrl-C). */
export async function dropAllDatabases(): Promise<string[]> {
  const names = [...created];
  if (names.length === 0) return [];
  const sql = admin();
  try {
    for (const name of names) {
      await sql.unsafe(`drop database if exists ${name} with (force)`);
      created.delete(name);
    }
  } finally {
    await sql.end();
  }
  return names;
}

/** What a runner calls around its timed section: start() once its clients are connected, end() before closing them. */
export interface TimedWindow {
  start(): Promise<void>;
  end(): void;
}

/** A plain postgres.js client for raw SQL (seeding, resets, EXPLAIN); not the project's Db port. */
export function rawSql(url: string, max = 2): postgres.Sql {
  return postgres(url, { max, onnotice: () => {}, connection: { application_name: 'bench' } });
}

export async function serverVersion(): Promise<string> {
  const sql = admin();
  try {
    const [row] = await sql<{ v: string }[]>`select current_setting('server_version') as v`;
    return row?.v ?? '?';
  } finally {
    await sql.end();
  }
}

/**
 * Transactions committed + rolled back in this database so far: the server's count of round trips that commit. Each
 * backend flushes its statistics when it goes idle (at most once a second) or exits, so this one is told to flush now
 * and backends that just disconnected get a moment to exit first.
 */
export async function transactionCount(sql: postgres.Sql): Promise<number> {
  await sql`select pg_stat_force_next_flush()`;
  await new Promise((r) => setTimeout(r, 50));
  await sql`select pg_stat_clear_snapshot()`;
  const [row] = await sql<{ n: string }[]>`
    select (xact_commit + xact_rollback)::text as n from pg_stat_database where datname = current_database()`;
  return Number(row?.n ?? 0);
}
