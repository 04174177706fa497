import { type DbConfig, DeploymentError, pgliteDir, resolveDbConfig } from '../deployment.ts';
import { log } from '../log.ts';
import { migrate } from './migrate.ts';
import type { Db } from './types.ts';

export { type DbConfig, pgliteDir, resolveDbConfig } from '../deployment.ts';
export { type Db, DbError, type Row, type Transport } from './types.ts';

/**
 * Opens the transport the environment selects (lib/deployment.ts decides which). Each transport module is imported
 * only when chosen, so a deployment on DATABASE_URL never loads PGlite (nor supabase-js), and with
 * `outputFileTracingExcludes` in next.config.ts the traced function bundle does not carry it either.
 * A production deployment with no database configured is refused here, before anything touches the disk.
 */
export async function openDb(env: NodeJS.ProcessEnv = process.env): Promise<Db> {
  const config: DbConfig = resolveDbConfig(env);
  if (config.transport === null) throw new DeploymentError(config.error);
  log('info', 'database transport', { transport: config.transport, target: config.describe });
  if (config.transport === 'postgres') {
    const { openPostgres } = await import('./postgres.ts');
    return openPostgres(env.DATABASE_URL!.trim());
  }
  if (config.transport === 'supabase') {
    const { openSupabase } = await import('./supabase.ts');
    return openSupabase(env.SUPABASE_URL!.trim(), env.SUPABASE_SERVICE_ROLE_KEY!.trim());
  }
  const { openPersistentPglite } = await import('./pglite.ts');
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
