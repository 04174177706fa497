import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setupServer } from 'msw/node';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { openDb, resolveDbConfig } from '../lib/db/index.ts';
import { migrate } from '../lib/db/migrate.ts';
import { openPersistentPglite } from '../lib/db/pglite.ts';
import { openSupabase } from '../lib/db/supabase.ts';
import { type Db, DbError, type Transport } from '../lib/db/types.ts';
import { prepareDemoDatabase } from '../scripts/seed-demo.ts';
import { type Engine, engines, freshDb, sql } from './helpers/db.ts';
import { insertAccount, insertDms } from './helpers/fixtures.ts';
import { capturedLogs, forbidInLogs } from './helpers/logs.ts';
import { type PostgrestCall, postgrestHandlers } from './helpers/postgrest.ts';

/**
 * The contract of the database port (lib/db/types.ts), run on every transport: PGlite, postgres.js (when
 * TEST_DATABASE_URL is set) and supabase-js, whose PostgREST is stood in for by tests/helpers/postgrest.ts executing on
 * a real database (PGlite, and the server when available).
 *
 * Known, documented differences between transports:
 * - a timestamp is an ISO 8601 string on all of them, but not the same string: the SQL transports give
 *   `Date#toISOString()` (`…T12:34:56.789Z`), PostgREST gives Postgres' JSON form (`…T12:34:56.789+00:00`, with
 *   microseconds when there are some). Compare instants (`Date.parse`), never strings.
 * - an unknown function (or unknown argument name) is SQLSTATE 42883 on the SQL transports and PostgREST's own
 *   PGRST202 (HTTP 404) on supabase-js: PostgREST resolves the function in its schema cache before any SQL runs.
 * - supabase-js has no `query`, `exec` or `transaction`: each SQL function is its own transaction.
 */

const SERVICE_KEY = `test-service-role-${randomBytes(16).toString('hex')}`;
const DB_PASSWORD = 'secretpw';
forbidInLogs(SERVICE_KEY);
forbidInLogs(DB_PASSWORD);

const SUPABASE_URL = 'http://supabase.test';
const RUN = '00000000-0000-4000-8000-0000000000aa';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** Test-only functions, created next to the migrated ones on every backing database. */
const CONTRACT_FUNCTIONS = `
  create function public.zz_contract_insert_state(p_job text) returns void
  language sql as $$ insert into public.cron_state (job) values (p_job) $$;

  create function public.zz_contract_raise(p_message text) returns integer
  language plpgsql as $$
  begin
    raise exception using message = p_message, detail = 'contract detail', hint = 'contract hint';
  end $$;
`;

const server = setupServer();
/** Every request that reached the PostgREST stub. */
const calls: PostgrestCall[] = [];

beforeAll(() => server.listen({ onUnhandledFrame: 'error' }));
afterAll(() => server.close());

/** Runs fn and returns what it threw or rejected with (a synchronous throw counts as a rejection). */
async function failure(fn: () => unknown): Promise<DbError> {
  try {
    await fn();
  } catch (e) {
    return e as DbError;
  }
  throw new Error('expected a failure');
}

interface Target {
  label: string;
  transport: Transport;
  /** The database the SQL runs on (the transport's own, or the one behind the PostgREST stub). */
  engine: Engine;
}

const targets: Target[] = [
  ...engines().map((engine): Target => ({ label: engine, transport: engine, engine })),
  ...engines().map(
    (engine): Target => ({ label: `supabase-js → PostgREST stub → ${engine}`, transport: 'supabase', engine }),
  ),
];

for (const target of targets) {
  const onSupabase = target.transport === 'supabase';

  describe(`db port contract [${target.label}]`, () => {
    /** `db` is the transport under test; `admin` speaks SQL to the same database (fixtures, assertions). */
    const ctx = {} as { db: Db; admin: Db };
    let dispose: (() => Promise<void>) | undefined;

    beforeAll(async () => {
      const fresh = await freshDb(target.engine);
      await fresh.db.exec!(CONTRACT_FUNCTIONS);
      ctx.admin = fresh.db;
      if (onSupabase) {
        server.resetHandlers(
          ...postgrestHandlers(SUPABASE_URL, SERVICE_KEY, fresh.db, { onCall: (c) => calls.push(c) }),
        );
        const db = openSupabase(SUPABASE_URL, SERVICE_KEY);
        ctx.db = db;
        dispose = async () => {
          await db.close();
          await fresh.dispose();
        };
      } else {
        ctx.db = fresh.db;
        dispose = fresh.dispose;
      }
    });
    afterAll(async () => {
      await dispose?.();
    });

    test('reports its transport', () => {
      expect(ctx.db.transport).toBe(target.transport);
    });

    test('set-returning function: one row per result, with the declared columns', async () => {
      const now = new Date('2026-03-10T12:00:00Z');
      const args = { p_job: 'contract-srf', p_trigger: 'manual', p_budget_ms: 1000, p_now: now };
      const rows = await ctx.db.rpc<{ run_id: string; status: string; reason: string | null }>('cron_run_start', args);
      expect(rows).toHaveLength(1);
      expect(Object.keys(rows[0]!).sort()).toEqual(['reason', 'run_id', 'status']);
      expect(rows[0]).toMatchObject({ status: 'running', reason: null });
      expect(rows[0]!.run_id).toMatch(UUID);
      const [run] = await sql<{ job: string; trigger: string; status: string }>(
        ctx.admin,
        'select job, trigger, status from job_runs where id = $1',
        [rows[0]!.run_id],
      );
      expect(run).toEqual({ job: 'contract-srf', trigger: 'manual', status: 'running' });
    });

    test('boolean arguments: true arrives as true, false as false', async () => {
      const now = new Date('2026-03-10T12:00:00Z');
      const args = {
        p_job: 'contract-bool',
        p_trigger: 'manual',
        p_budget_ms: 1000,
        p_single_flight: true,
        p_now: now,
      };
      const [first] = await ctx.db.rpc('cron_run_start', args);
      expect(first).toMatchObject({ status: 'running' });
      // p_single_flight = true: the lease is held, so a second start is skipped.
      expect(await ctx.db.rpc('cron_run_start', args)).toEqual([
        { run_id: expect.stringMatching(UUID), status: 'skipped', reason: 'locked' },
      ]);
      const enabled = async () =>
        (
          await sql<{ enabled: boolean }>(ctx.admin, 'select enabled from cron_state where job = $1', ['contract-bool'])
        )[0]?.enabled;
      await ctx.db.rpc('cron_set_enabled', { p_job: 'contract-bool', p_enabled: false });
      expect(await enabled()).toBe(false);
      await ctx.db.rpc('cron_set_enabled', { p_job: 'contract-bool', p_enabled: true });
      expect(await enabled()).toBe(true);
    });

    test('scalar function: one row { <fn>: value }', async () => {
      await sql(ctx.admin, 'truncate accounts, dm_queue cascade');
      const now = new Date('2026-03-10T12:00:00Z');
      expect(await ctx.db.rpc('reap_expired_dms', { p_now: now })).toEqual([{ reap_expired_dms: 0 }]);
      const account = await insertAccount(ctx.admin);
      const [id] = await insertDms(ctx.admin, account, 1, { status: 'sending', attempted_at: now });
      await sql(ctx.admin, "update dm_queue set lease_until = $2::timestamptz - interval '1 second' where id = $1", [
        id,
        now.toISOString(),
      ]);
      expect(await ctx.db.rpc('reap_expired_dms', { p_now: now })).toEqual([{ reap_expired_dms: 1 }]);
      // Defaults apply when an argument is left out (p_now defaults to now()).
      expect(await ctx.db.rpc('reap_expired_dms')).toEqual([{ reap_expired_dms: 0 }]);
    });

    test('void function: works, gives [{ <fn>: null }], and its effect is visible through another function', async () => {
      expect(await ctx.db.rpc('cron_set_enabled', { p_job: 'contract-void', p_enabled: false })).toEqual([
        { cron_set_enabled: null },
      ]);
      const status = await ctx.db.rpc<{ job: string; enabled: boolean }>('cron_job_status', {
        p_jobs: ['contract-void', 'contract-never-seen'],
      });
      expect(Object.fromEntries(status.map((r) => [r.job, r.enabled]))).toEqual({
        'contract-void': false,
        'contract-never-seen': true,
      });
      const start = await ctx.db.rpc('cron_run_start', { p_job: 'contract-void', p_trigger: 'cron', p_budget_ms: 1 });
      expect(start).toEqual([{ run_id: expect.stringMatching(UUID), status: 'skipped', reason: 'paused' }]);
    });

    test('text[] argument: elements with commas, quotes, backslashes, braces and spaces arrive intact', async () => {
      const jobs = ['a,b', 'say "hi"', 'back\\slash', '{braced}', 'NULL', ' spaced ', 'ünïcødé'];
      const rows = await ctx.db.rpc<{ job: string }>('cron_job_status', { p_jobs: jobs });
      // cron_job_status has no ORDER BY: compare as sets.
      expect(rows.map((r) => r.job).sort()).toEqual([...jobs].sort());
      expect(await ctx.db.rpc('cron_job_status', { p_jobs: [] })).toEqual([]);
    });

    test('jsonb and integer[] arguments: claim two DMs, then settle them with an outcomes array and a backoff array', async () => {
      await sql(ctx.admin, 'truncate accounts, dm_queue cascade');
      const now = new Date('2026-03-10T12:00:00Z');
      const account = await insertAccount(ctx.admin);
      const ids = await insertDms(ctx.admin, account, 3);
      const claimed = await ctx.db.rpc<{ id: string; attempts: number; attempted_at: string; turn: number }>(
        'claim_due_dms',
        { p_limit: 2, p_lease_seconds: 60, p_run_id: RUN, p_now: now },
      );
      expect(claimed).toHaveLength(2);
      expect(Object.keys(claimed[0]!).sort()).toEqual([
        'account_id',
        'attempted_at',
        'attempts',
        'body',
        'id',
        'provider_account_id',
        'recipient_id',
        'turn',
      ]);
      expect(claimed.map((c) => c.turn)).toEqual([1, 2]);
      expect(claimed.every((c) => ids.includes(c.id) && c.attempts === 1)).toBe(true);
      const [sent, retried] = claimed as [(typeof claimed)[0], (typeof claimed)[0]];
      const unclaimed = ids.find((id) => id !== sent.id && id !== retried.id)!;

      const error = 'He said "no" \\ {x,y} – ünïcødé';
      const settled = await ctx.db.rpc<{
        id: string;
        account_id: string;
        status: string;
        outcome: string;
        decision: string;
      }>('settle_dms', {
        p_run_id: RUN,
        p_outcomes: [
          { id: sent.id, outcome: 'sent', result: { messageId: 'msg-1', chatId: 'chat-1' } },
          { id: retried.id, outcome: 'retry', error, code: 'E_TEMP', retryAfterMs: 1000, cooldown: false },
        ],
        p_max_attempts: 5,
        p_backoff_seconds: [7, 11],
        p_now: now,
      });
      const byId = (id: string) => settled.find((r) => r.id === id);
      expect(settled).toHaveLength(2);
      expect(byId(sent.id)).toEqual({
        id: sent.id,
        account_id: account,
        status: 'sent',
        outcome: 'sent',
        decision: 'done',
      });
      expect(byId(retried.id)).toEqual({
        id: retried.id,
        account_id: account,
        status: 'pending',
        outcome: 'retry',
        decision: 'retry',
      });

      const rows = await sql<{
        id: string;
        status: string;
        attempts: number;
        provider_message_id: string | null;
        last_error: string | null;
        next_attempt_at: string | null;
      }>(ctx.admin, 'select id, status, attempts, provider_message_id, last_error, next_attempt_at from dm_queue');
      const row = (id: string) => rows.find((r) => r.id === id)!;
      expect(row(sent.id)).toMatchObject({ status: 'sent', attempts: 1, provider_message_id: 'msg-1' });
      // attempts = 1 → the first backoff step (7 s), longer than Retry-After (1 s): the integer[] was read as such.
      expect(row(retried.id)).toMatchObject({ status: 'pending', attempts: 1, last_error: `E_TEMP: ${error}` });
      expect(Date.parse(row(retried.id).next_attempt_at!)).toBe(now.getTime() + 7_000);
      expect(row(unclaimed)).toMatchObject({ status: 'pending', attempts: 0, last_error: null });
    });

    test('timestamps come back as ISO 8601 strings for the instant that was stored', async () => {
      const now = new Date('2026-03-10T12:34:56.789Z');
      await ctx.db.rpc('cron_run_start', { p_job: 'contract-ts', p_trigger: 'cron', p_budget_ms: 1, p_now: now });
      const [row] = await ctx.db.rpc<{ last_run_at: string; last_success_at: string | null; installed_at: string }>(
        'cron_job_status',
        { p_jobs: ['contract-ts'] },
      );
      expect(typeof row!.last_run_at).toBe('string');
      expect(row!.last_run_at).toMatch(ISO);
      expect(Date.parse(row!.last_run_at)).toBe(now.getTime());
      expect(row!.installed_at).toMatch(ISO);
      expect(Number.isNaN(Date.parse(row!.installed_at))).toBe(false);
      expect(row!.last_success_at).toBeNull();
      // Same instant, different spelling: see the note at the top of the file.
      expect(row!.last_run_at).toBe(onSupabase ? '2026-03-10T12:34:56.789+00:00' : now.toISOString());
    });

    test('a constraint violation arrives as DbError with the SQLSTATE, message and detail', async () => {
      await ctx.db.rpc('zz_contract_insert_state', { p_job: 'contract-dup' });
      const err = await failure(() => ctx.db.rpc('zz_contract_insert_state', { p_job: 'contract-dup' }));
      expect(err).toBeInstanceOf(DbError);
      expect(err).toMatchObject({
        code: '23505',
        message: 'duplicate key value violates unique constraint "cron_state_pkey"',
        detail: 'Key (job)=(contract-dup) already exists.',
      });
    });

    test('a raised exception keeps its message, detail and hint', async () => {
      const err = await failure(() => ctx.db.rpc('zz_contract_raise', { p_message: 'nope: "quoted"' }));
      expect(err).toBeInstanceOf(DbError);
      expect(err).toMatchObject({
        code: 'P0001',
        message: 'nope: "quoted"',
        detail: 'contract detail',
        hint: 'contract hint',
      });
    });

    test('a malformed jsonb argument (not an array) is 22023 from the function itself', async () => {
      const err = await failure(() =>
        ctx.db.rpc('settle_dms', { p_run_id: RUN, p_outcomes: { id: RUN, outcome: 'sent' } }),
      );
      expect(err).toBeInstanceOf(DbError);
      expect(err.code).toBe('22023');
      expect(err.message).toMatch(/non-array/);
    });

    test('an unknown function: 42883 on the SQL transports, PGRST202 on supabase-js', async () => {
      const unknown = await failure(() => ctx.db.rpc('zz_no_such_function', { p_x: 1 }));
      const unknownArg = await failure(() => ctx.db.rpc('cron_set_enabled', { p_job: 'x', p_enabled: true, p_y: 1 }));
      for (const err of [unknown, unknownArg]) expect(err).toBeInstanceOf(DbError);
      if (onSupabase) {
        expect(unknown).toMatchObject({
          code: 'PGRST202',
          message: 'Could not find the function public.zz_no_such_function(p_x) in the schema cache',
        });
        expect(unknownArg).toMatchObject({
          code: 'PGRST202',
          message: 'Could not find the function public.cron_set_enabled(p_enabled, p_job, p_y) in the schema cache',
        });
      } else {
        expect(unknown.code).toBe('42883');
        expect(unknown.message).toMatch(/^function public\.zz_no_such_function\(p_x( => \w+)?\) does not exist$/);
        expect(unknownArg.code).toBe('42883');
      }
    });

    test('an invalid function or argument name is refused before any SQL or HTTP', async () => {
      const before = calls.length;
      for (const bad of ['drop table x', 'public.cron_set_enabled', 'cron_set_enabled()', 'Cron', '', 'a'.repeat(64)]) {
        const err = await failure(() => ctx.db.rpc(bad));
        expect(err).toBeInstanceOf(DbError);
        // The port's own message: Postgres would have said "syntax error" (42601) or "does not exist" (42883).
        expect(err).toMatchObject({ code: '42602', message: `invalid SQL identifier: ${JSON.stringify(bad)}` });
      }
      const badArg = await failure(() =>
        ctx.db.rpc('cron_set_enabled', { 'p_job => null); drop table accounts; --': 'x', p_enabled: true }),
      );
      expect(badArg).toMatchObject({ code: '42602' });
      expect(calls.length).toBe(before);
      expect(await sql(ctx.admin, "select to_regclass('public.accounts')::text as t")).toEqual([{ t: 'accounts' }]);
    });

    if (target.label === 'pglite') {
      test('every public function is void, scalar, or set-returning rows: the shapes all transports return alike', async () => {
        // supabase-js cannot tell these apart from a scalar: PostgREST answers a single composite (OUT parameters
        // without SETOF) with one bare object, and SETOF scalar with an array of bare values, where the SQL transports
        // give rows.
        const rows = await sql<{ proname: string; retset: boolean; named: boolean }>(
          ctx.admin,
          `select p.proname, p.proretset as retset,
                  (t.typtype = 'c' or p.prorettype = 'record'::regtype
                   or coalesce(p.proargmodes::text[] && array['o', 'b', 't'], false)) as named
             from pg_proc p
             join pg_namespace n on n.oid = p.pronamespace
             join pg_type t on t.oid = p.prorettype
            where n.nspname = 'public' and p.prokind = 'f' and p.prorettype <> 'trigger'::regtype`,
        );
        expect(rows.length).toBeGreaterThan(5);
        expect(rows.filter((r) => r.retset !== r.named).map((r) => r.proname)).toEqual([]);
      });
    }

    if (onSupabase) {
      test('supabase-js has no query, exec or transaction, and cannot migrate', async () => {
        expect(ctx.db.query).toBeUndefined();
        expect(ctx.db.exec).toBeUndefined();
        expect(ctx.db.transaction).toBeUndefined();
        await expect(migrate(ctx.db)).rejects.toThrow(/supabase db push/);
      });

      test('a wrong service-role key is refused (401) and never echoed', async () => {
        const wrongKey = `wrong-${randomBytes(8).toString('hex')}`;
        const wrong = openSupabase(SUPABASE_URL, wrongKey);
        const err = await failure(() => wrong.rpc('reap_expired_dms'));
        await wrong.close();
        expect(err).toBeInstanceOf(DbError);
        expect(err.message).toBe('Invalid API key');
        expect(calls.at(-1)).toEqual({ fn: 'reap_expired_dms', status: 401 });
        expect(`${err.message} ${err.detail ?? ''} ${err.hint ?? ''}`).not.toContain(wrongKey);

        // The right apikey with another bearer token: PostgREST's own refusal.
        const otherBearer = openSupabase(SUPABASE_URL, SERVICE_KEY, {
          fetch: (input, init) => {
            const headers = new Headers(init?.headers);
            headers.set('Authorization', 'Bearer someone-else');
            return fetch(input, { ...init, headers });
          },
        });
        const bearerErr = await failure(() => otherBearer.rpc('reap_expired_dms'));
        await otherBearer.close();
        expect(bearerErr).toMatchObject({ code: 'PGRST301' });
        expect(bearerErr.message).not.toContain(SERVICE_KEY);
      });
    } else {
      test('transaction commits', async () => {
        const seen = await ctx.db.transaction!(async (tx) => {
          await tx.rpc('cron_set_enabled', { p_job: 'contract-tx-commit', p_enabled: false });
          const rows = await tx.query!<{ enabled: boolean }>('select enabled from cron_state where job = $1', [
            'contract-tx-commit',
          ]);
          return rows[0]?.enabled;
        });
        expect(seen).toBe(false);
        const [row] = await ctx.db.rpc<{ enabled: boolean }>('cron_job_status', { p_jobs: ['contract-tx-commit'] });
        expect(row?.enabled).toBe(false);
      });

      test('transaction rolls back when the callback throws, or when a statement fails', async () => {
        const thrown = await failure(() =>
          ctx.db.transaction!(async (tx) => {
            await tx.rpc('cron_set_enabled', { p_job: 'contract-tx-rollback', p_enabled: false });
            throw new Error('boom');
          }),
        );
        expect(thrown.message).toBe('boom');

        const failed = await failure(() =>
          ctx.db.transaction!(async (tx) => {
            await tx.rpc('cron_set_enabled', { p_job: 'contract-tx-rollback', p_enabled: false });
            await tx.rpc('zz_contract_insert_state', { p_job: 'contract-tx-rollback' }); // 23505
          }),
        );
        expect(failed).toBeInstanceOf(DbError);
        expect(failed.code).toBe('23505');

        expect(await sql(ctx.admin, 'select job from cron_state where job = $1', ['contract-tx-rollback'])).toEqual([]);
        const [row] = await ctx.db.rpc<{ enabled: boolean }>('cron_job_status', { p_jobs: ['contract-tx-rollback'] });
        expect(row?.enabled).toBe(true);
      });
    }
  });
}

describe('resolveDbConfig', () => {
  /** Next's types make NODE_ENV required in ProcessEnv; these environments are deliberately partial. */
  const env = (vars: Record<string, string>) => vars as NodeJS.ProcessEnv;

  test('nothing set → embedded PGlite (PGLITE_DIR or .data/pglite)', () => {
    expect(resolveDbConfig(env({}))).toEqual({
      transport: 'pglite',
      describe: `pglite ${path.resolve(process.cwd(), '.data', 'pglite')}`,
    });
    expect(resolveDbConfig(env({ PGLITE_DIR: '/tmp/somewhere' }))).toEqual({
      transport: 'pglite',
      describe: 'pglite /tmp/somewhere',
    });
  });

  test('DATABASE_URL → postgres; the description never holds the password and names the pooler mode', () => {
    const pooler = resolveDbConfig(env({ DATABASE_URL: `postgres://u:${DB_PASSWORD}@host:6543/db` }));
    expect(pooler.transport).toBe('postgres');
    expect(pooler.describe).not.toContain(DB_PASSWORD);
    expect(pooler.describe).toContain('host:6543/db');
    expect(pooler.describe).toMatch(/prepare: ?false/);

    const direct = resolveDbConfig(env({ DATABASE_URL: `postgresql://u:${DB_PASSWORD}@db.example.com:5432/postgres` }));
    expect(direct).toEqual({ transport: 'postgres', describe: 'postgres://db.example.com:5432/postgres' });

    const bouncer = resolveDbConfig(env({ DATABASE_URL: `postgres://u:${DB_PASSWORD}@host:5432/db?pgbouncer=true` }));
    expect(bouncer.describe).toMatch(/prepare: ?false/);
    expect(bouncer.describe).not.toContain(DB_PASSWORD);

    const garbage = resolveDbConfig(env({ DATABASE_URL: `not a url ${DB_PASSWORD}` }));
    expect(garbage.transport).toBe('postgres');
    expect(garbage.describe).not.toContain(DB_PASSWORD);
  });

  test('DATABASE_URL wins over SUPABASE_URL', () => {
    const vars = {
      DATABASE_URL: `postgres://u:${DB_PASSWORD}@host:5432/db`,
      SUPABASE_URL: 'https://abc.supabase.co',
      SUPABASE_SERVICE_ROLE_KEY: SERVICE_KEY,
    };
    expect(resolveDbConfig(env(vars)).transport).toBe('postgres');
  });

  test('SUPABASE_URL + SUPABASE_SERVICE_ROLE_KEY → supabase; the description never holds the key', () => {
    const config = resolveDbConfig(
      env({ SUPABASE_URL: 'https://abc.supabase.co', SUPABASE_SERVICE_ROLE_KEY: SERVICE_KEY }),
    );
    expect(config).toEqual({ transport: 'supabase', describe: 'supabase abc.supabase.co' });
    expect(config.describe).not.toContain(SERVICE_KEY);
    // A URL without its key is not enough.
    expect(resolveDbConfig(env({ SUPABASE_URL: 'https://abc.supabase.co' })).transport).toBe('pglite');
  });

  test('openDb logs the transport and target, never the key or the password', async () => {
    const supabase = await openDb(env({ SUPABASE_URL, SUPABASE_SERVICE_ROLE_KEY: SERVICE_KEY }));
    expect(supabase.transport).toBe('supabase');
    await supabase.close();
    const postgres = await openDb(env({ DATABASE_URL: `postgres://u:${DB_PASSWORD}@127.0.0.1:6543/db` }));
    expect(postgres.transport).toBe('postgres');
    await postgres.close(); // never connected: postgres.js connects on the first query

    const lines = capturedLogs().filter((l) => l.msg === 'database transport');
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ transport: 'supabase', target: 'supabase supabase.test' }),
        expect.objectContaining({
          transport: 'postgres',
          target: 'postgres://127.0.0.1:6543/db (transaction pooler, prepare: false)',
        }),
      ]),
    );
    const text = JSON.stringify(lines);
    expect(text).not.toContain(SERVICE_KEY);
    expect(text).not.toContain(DB_PASSWORD);
  });
});

describe('the embedded database: the port opens and migrates, npm run dev seeds', () => {
  const env = (vars: Record<string, string>) => vars as NodeJS.ProcessEnv;
  const count = async (db: Db, from: string) =>
    (await db.query!<{ n: number }>(`select count(*)::int as n from ${from}`))[0]?.n;

  test('openDb on PGlite migrates and seeds nothing; prepareDemoDatabase seeds once and releases the directory', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'db-port-seed-'));
    const dir = path.join(tmp, 'pglite');
    try {
      const opened = await openDb(env({ PGLITE_DIR: dir }));
      try {
        expect(await count(opened, 'supabase_migrations.schema_migrations')).toBeGreaterThan(0);
        expect(await count(opened, 'accounts')).toBe(0);
      } finally {
        await opened.close();
      }

      expect(await prepareDemoDatabase(env({ PGLITE_DIR: dir, SEED_DEMO: '0' }))).toEqual({
        dir,
        applied: [],
        seeded: false,
      });
      expect(await prepareDemoDatabase(env({ PGLITE_DIR: dir }))).toMatchObject({ seeded: true });
      expect(await prepareDemoDatabase(env({ PGLITE_DIR: dir }))).toMatchObject({ seeded: false });
      // Closed again: the lock is gone, so the server (another process) may open the directory.
      expect(fs.existsSync(`${dir}.lock`)).toBe(false);
      const db = await openPersistentPglite(dir);
      try {
        expect(await count(db, 'accounts')).toBe(5);
        expect(await count(db, "dm_queue where status = 'pending'")).toBeGreaterThan(0);
      } finally {
        await db.close();
      }
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  test('prepareDemoDatabase leaves a real database alone', async () => {
    expect(await prepareDemoDatabase(env({ DATABASE_URL: 'postgres://u@127.0.0.1:1/none' }))).toBeNull();
    expect(
      await prepareDemoDatabase(env({ SUPABASE_URL: 'https://abc.supabase.co', SUPABASE_SERVICE_ROLE_KEY: 'k' })),
    ).toBeNull();
  });
});

describe('persistent PGlite: one process per data directory', () => {
  const childScript = fileURLToPath(new URL('./helpers/pglite-lock-child.ts', import.meta.url));

  /** Opens `dir` in another Node process (tests/helpers/pglite-lock-child.ts). */
  function openInChild(dir: string): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        ['--no-warnings', childScript, dir],
        { timeout: 60_000, encoding: 'utf8' },
        (error, stdout, stderr) => {
          const exitCode = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
          resolve({ exitCode, stdout, stderr });
        },
      );
    });
  }

  function deadPid(): number {
    for (let pid = 999_999; ; pid++) {
      try {
        process.kill(pid, 0);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ESRCH') return pid;
      }
    }
  }

  test('a second process is refused with the owner pid; a stale lock is taken over', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'db-port-lock-'));
    const dir = path.join(tmp, 'pglite');
    const lockFile = `${dir}.lock`;
    try {
      const db = await openPersistentPglite(dir);
      try {
        expect(fs.readFileSync(lockFile, 'utf8')).toBe(String(process.pid));
        const refused = await openInChild(dir);
        expect(refused.exitCode).toBe(3);
        const err = JSON.parse(refused.stderr.trim().split('\n').at(-1) ?? '{}') as { code?: string; message?: string };
        expect(err.code).toBe('55006');
        expect(err.message).toContain(`is in use by process ${process.pid}`);
        // The owner is unaffected and keeps its lock.
        expect(await db.query!('select 1 as one')).toEqual([{ one: 1 }]);
        expect(fs.readFileSync(lockFile, 'utf8')).toBe(String(process.pid));
      } finally {
        await db.close();
      }
      expect(fs.existsSync(lockFile)).toBe(false);

      // A lock left by a process that died is taken over.
      const dead = deadPid();
      fs.writeFileSync(lockFile, String(dead));
      const again = await openPersistentPglite(dir);
      expect(fs.readFileSync(lockFile, 'utf8')).toBe(String(process.pid));
      await again.close();
      expect(fs.existsSync(lockFile)).toBe(false);

      // Once released, another process may open it.
      const opened = await openInChild(dir);
      expect(opened.stderr).toBe('');
      expect(opened).toMatchObject({ exitCode: 0, stdout: 'opened\n' });
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
