import { describe, expect, test } from 'vitest';
import { listMigrations, migrate } from '../lib/db/migrate.ts';
import { engines, freshDb, sql } from './helpers/db.ts';

describe('listMigrations', () => {
  test('files are named <YYYYMMDDHHMMSS>_<what>.sql and sorted', () => {
    const list = listMigrations();
    expect(list.length).toBeGreaterThan(5);
    const versions = list.map((m) => m.version);
    expect([...versions].sort()).toEqual(versions);
    expect(new Set(versions).size).toBe(versions.length);
  });

  test('no migration uses a PostgreSQL 16+ feature (Supabase runs 15)', () => {
    for (const m of listMigrations()) {
      expect(m.sql, m.name).not.toMatch(
        /uuidv7\s*\(|\bmerge\b[\s\S]*\breturning\b|\bany_value\s*\(|json_table|\bjson_object\s*\(/i,
      );
    }
  });
});

for (const engine of engines()) {
  describe(`migrate [${engine}]`, () => {
    test('applies every migration once; a second run is a no-op', async () => {
      const { db, dispose } = await freshDb(engine, { migrated: false });
      try {
        const first = await migrate(db);
        expect(first.applied.length).toBe(listMigrations().length);
        const second = await migrate(db);
        expect(second.applied).toEqual([]);
        expect(second.alreadyApplied).toBe(listMigrations().length);
        const recorded = await sql<{ version: string }>(
          db,
          'select version from supabase_migrations.schema_migrations order by version',
        );
        expect(recorded.map((r) => r.version)).toEqual(listMigrations().map((m) => m.version));
      } finally {
        await dispose();
      }
    });

    test('row level security is on for every table in public, and anon/authenticated can execute no function', async () => {
      const { db, dispose } = await freshDb(engine);
      try {
        const tables = await sql<{ relname: string; relrowsecurity: boolean }>(
          db,
          `select c.relname, c.relrowsecurity from pg_class c join pg_namespace n on n.oid = c.relnamespace
            where n.nspname = 'public' and c.relkind in ('r', 'p')`,
        );
        expect(tables.length).toBeGreaterThanOrEqual(7);
        expect(tables.filter((t) => !t.relrowsecurity).map((t) => t.relname)).toEqual([]);

        const fns = await sql<{ proname: string; anon: boolean; authenticated: boolean; pub: boolean }>(
          db,
          `select p.proname,
                  has_function_privilege('anon', p.oid, 'execute') as anon,
                  has_function_privilege('authenticated', p.oid, 'execute') as authenticated,
                  exists (select 1 from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                           where a.grantee = 0 and a.privilege_type = 'EXECUTE') as pub
             from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'public'`,
        );
        expect(fns.length).toBeGreaterThan(5);
        expect(fns.filter((f) => f.anon || f.authenticated || f.pub).map((f) => f.proname)).toEqual([]);
      } finally {
        await dispose();
      }
    });
  });
}
