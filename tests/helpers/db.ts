import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe } from 'vitest';
import { migrate } from '../../lib/db/migrate.ts';
import { openMemoryPglite } from '../../lib/db/pglite.ts';
import { openPostgres } from '../../lib/db/postgres.ts';
import type { Db } from '../../lib/db/types.ts';

export type Engine = 'pglite' | 'postgres';

export const SERVER_URL = process.env.TEST_DATABASE_URL;

let warned = false;
/** The engines every database test runs on: PGlite always, the PostgreSQL server when TEST_DATABASE_URL is set. */
export function engines(): Engine[] {
  if (!SERVER_URL) {
    if (process.env.CI)
      throw new Error('TEST_DATABASE_URL must be set in CI: the server half of the suite cannot be skipped there');
    if (!warned) {
      warned = true;
      console.warn(
        '[tests] TEST_DATABASE_URL is not set: the PostgreSQL-server half of the database tests is skipped; ' +
          'they ran on PGlite only. Set TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres to run them.',
      );
    }
    return ['pglite'];
  }
  return ['pglite', 'postgres'];
}

/**
 * For tests that only make sense on the server (real concurrency, restarts): true when TEST_DATABASE_URL is set;
 * otherwise says why they are skipped (and fails in CI, where they must run).
 */
export function serverAvailable(what: string): boolean {
  if (SERVER_URL) return true;
  if (process.env.CI) throw new Error(`TEST_DATABASE_URL must be set in CI: "${what}" needs the PostgreSQL server`);
  console.warn(`[tests] skipped "${what}": it needs the PostgreSQL server and TEST_DATABASE_URL is not set.`);
  return false;
}

/** A fresh, empty database on the server (not migrated); dropped by the returned function. */
export async function createServerDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  if (!SERVER_URL) throw new Error('TEST_DATABASE_URL is not set');
  const name = `t_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const admin = postgres(SERVER_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  const u = new URL(SERVER_URL);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    drop: async () => {
      const a = postgres(SERVER_URL, { max: 1, onnotice: () => {} });
      await a.unsafe(`drop database if exists ${name} with (force)`);
      await a.end();
    },
  };
}

/** A fresh migrated database on the given engine, and how to dispose of it. */
export async function freshDb(
  engine: Engine,
  options: { migrated?: boolean; poolMax?: number } = {},
): Promise<{ db: Db; url?: string; dispose: () => Promise<void> }> {
  if (engine === 'pglite') {
    const db = await openMemoryPglite();
    if (options.migrated !== false) await migrate(db);
    return { db, dispose: () => db.close() };
  }
  const { url, drop } = await createServerDatabase();
  const db = openPostgres(url, { max: options.poolMax ?? 4 });
  if (options.migrated !== false) await migrate(db);
  return {
    db,
    url,
    dispose: async () => {
      await db.close();
      await drop();
    },
  };
}

/**
 * `describe` once per engine with a fresh migrated database for the block: `forEachEngine('claim', (ctx) => {...})`,
 * then `ctx.db` inside tests.
 */
export function forEachEngine(name: string, body: (ctx: { db: Db; engine: Engine; url?: string }) => void): void {
  for (const engine of engines()) {
    describe(`${name} [${engine}]`, () => {
      const ctx = { engine } as { db: Db; engine: Engine; url?: string };
      let dispose: (() => Promise<void>) | undefined;
      beforeAll(async () => {
        const fresh = await freshDb(engine);
        ctx.db = fresh.db;
        ctx.url = fresh.url;
        dispose = fresh.dispose;
      });
      afterAll(async () => {
        await dispose?.();
      });
      body(ctx);
    });
  }
}

/** Raw SQL on a test database (both test engines speak SQL). */
export function sql<T = Record<string, unknown>>(db: Db, text: string, params: unknown[] = []): Promise<T[]> {
  if (!db.query) throw new Error(`${db.transport} has no raw SQL`);
  return db.query<T>(text, params);
}
