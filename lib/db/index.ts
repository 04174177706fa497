import path from 'node:path';
import { log } from '../log.ts';
import { migrate } from './migrate.ts';
import { openPersistentPglite } from './pglite.ts';
import { isTransactionPooler, openPostgres } from './postgres.ts';
import { openSupabase } from './supabase.ts';
import type { Db, Transport } from './types.ts';

export { type Db, DbError, type Row, type Transport } from './types.ts';

export interface DbConfig {
  transport: Transport;
  /** What is safe to print: never a password or key. */
  describe: string;
}

/** Which transport the environment asks for: DATABASE_URL, then SUPABASE_URL + key, then the embedded default. */
export function resolveDbConfig(env: NodeJS.ProcessEnv = process.env): DbConfig {
  if (env.DATABASE_URL) {
    const u = safeUrl(env.DATABASE_URL);
    const pooler = isTransactionPooler(env.DATABASE_URL) ? ' (transaction pooler, prepare: false)' : '';
    return { transport: 'postgres', describe: `postgres://${u?.host ?? '?'}${u?.pathname ?? ''}${pooler}` };
  }
  if (env.SUPABASE_URL && env.SUPABASE_SERVICE_ROLE_KEY) {
    return { transport: 'supabase', describe: `supabase ${safeUrl(env.SUPABASE_URL)?.host ?? '?'}` };
  }
  return { transport: 'pglite', describe: `pglite ${pgliteDir(env)}` };
}

export function pgliteDir(env: NodeJS.ProcessEnv = process.env): string {
  // Only the embedded (local) database reads this path; keep it out of the deployment's file tracing.
  return path.resolve(/*turbopackIgnore: true*/ env.PGLITE_DIR || path.join(process.cwd(), '.data', 'pglite'));
}

function safeUrl(url: string): URL | null {
  try {
    return new URL(url);
  } catch {
    return null;
  }
}

export async function openDb(env: NodeJS.ProcessEnv = process.env): Promise<Db> {
  const config = resolveDbConfig(env);
  log('info', 'database transport', { transport: config.transport, target: config.describe });
  if (config.transport === 'postgres') return openPostgres(env.DATABASE_URL!);
  if (config.transport === 'supabase') return openSupabase(env.SUPABASE_URL!, env.SUPABASE_SERVICE_ROLE_KEY!);
  const db = await openPersistentPglite(pgliteDir(env));
  // The embedded database migrates itself on first use, so `next dev` works on a bare machine. Demo data is not the
  // port's business: `npm run dev` seeds it before the server starts (scripts/seed-demo.ts).
  await migrate(db);
  return db;
}

// One instance per process, kept on globalThis so Next's dev reloads do not open the data directory twice.
const holder = globalThis as unknown as { __pgCronDb?: Promise<Db> };

export function getDb(): Promise<Db> {
  if (!holder.__pgCronDb) {
    holder.__pgCronDb = openDb().catch((e) => {
      holder.__pgCronDb = undefined;
      throw e;
    });
  }
  return holder.__pgCronDb;
}

/** Tests and scripts swap the process database. */
export function setDb(db: Db | undefined): void {
  holder.__pgCronDb = db ? Promise.resolve(db) : undefined;
}
