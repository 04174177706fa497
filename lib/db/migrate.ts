import fs from 'node:fs';
import path from 'node:path';
import { log } from '../log.ts';
import type { Db } from './types.ts';

export const MIGRATIONS_DIR = path.join(/*turbopackIgnore: true*/ process.cwd(), 'supabase', 'migrations');
const FILE = /^(\d{14})_([a-z0-9_]+)\.sql$/;
// Any constant works; all migrators of one database take the same one.
const LOCK_KEY = 7_240_611;

export interface Migration {
  version: string;
  name: string;
  sql: string;
}

export function listMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort()
    .map((file) => {
      const m = FILE.exec(file);
      if (!m) throw new Error(`migration file name must be <YYYYMMDDHHMMSS>_<what>.sql: ${file}`);
      return { version: m[1]!, name: m[2]!, sql: fs.readFileSync(path.join(dir, file), 'utf8') };
    });
}

/**
 * Applies pending migrations, each in its own transaction under an advisory lock, recording them in the same table
 * the Supabase CLI uses (`supabase_migrations.schema_migrations`), so `supabase db push` and this runner agree on
 * what has been applied. Forward-only: an applied file is never re-run.
 */
export async function migrate(db: Db, dir = MIGRATIONS_DIR): Promise<{ applied: string[]; alreadyApplied: number }> {
  if (!db.transaction || !db.exec) {
    throw new Error(
      'This transport cannot run migrations (supabase-js speaks only RPC). Apply them with the Supabase CLI: ' +
        '`npx supabase link --project-ref <ref> && npx supabase db push`, or set DATABASE_URL to the ' +
        "project's direct connection string and run `npm run db:migrate`.",
    );
  }
  const migrations = listMigrations(dir);
  await db.transaction(async (tx) => {
    await tx.query!('select pg_advisory_xact_lock($1)', [LOCK_KEY]);
    await tx.exec!(`
      create schema if not exists supabase_migrations;
      create table if not exists supabase_migrations.schema_migrations (version text primary key, statements text[], name text);
    `);
  });
  const applied: string[] = [];
  let alreadyApplied = 0;
  for (const m of migrations) {
    const ran = await db.transaction(async (tx) => {
      await tx.query!('select pg_advisory_xact_lock($1)', [LOCK_KEY]);
      const done = await tx.query!('select 1 from supabase_migrations.schema_migrations where version = $1', [
        m.version,
      ]);
      if (done.length > 0) return false;
      await tx.exec!(m.sql);
      await tx.query!(
        'insert into supabase_migrations.schema_migrations (version, statements, name) values ($1, array[$2], $3)',
        [m.version, m.sql, m.name],
      );
      return true;
    });
    if (ran) applied.push(`${m.version}_${m.name}`);
    else alreadyApplied++;
  }
  if (applied.length > 0) log('info', 'migrations applied', { transport: db.transport, applied });
  return { applied, alreadyApplied };
}
