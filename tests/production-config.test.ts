import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test, vi } from 'vitest';
import { GET as dmQueue } from '../app/api/cron/dm-queue/route.ts';
import { GET as health } from '../app/api/health/route.ts';
import { GET as syncJobStatus } from '../app/api/sync-jobs/[id]/route.ts';
import { POST as enqueueSync } from '../app/api/sync-jobs/route.ts';
import { getDb, openDb, setDb } from '../lib/db/index.ts';
import type { Db } from '../lib/db/types.ts';
import { getProvider, setProvider } from '../lib/providers/index.ts';
import { freshDb, sql } from './helpers/db.ts';
import { insertAccount, insertDms, statusCounts } from './helpers/fixtures.ts';
import { capturedLogs, forbidInLogs } from './helpers/logs.ts';

/**
 * Production never runs on demo parts by accident (issue 12): with NODE_ENV=production or VERCEL set and no database
 * or no Unipile credentials, the routes refuse with the reason and /api/health says so; the embedded database and the
 * sandbox run there only when chosen (DATABASE=pglite, PROVIDER=sandbox). The route handlers are called directly, with
 * the environment stubbed; tests/production-http.test.ts does the same over HTTP on a real server.
 */
const SECRET = 'production-config-cron-secret-0123';
const API_KEY = 'production-config-app-api-key-0123';
const UNIPILE_KEY = 'production-config-unipile-key-0123';
forbidInLogs(SECRET);
forbidInLogs(API_KEY);
forbidInLogs(UNIPILE_KEY);

/** Every variable these rules read: each test states the ones it sets, the rest are empty (= unset). */
const VARS = [
  'NODE_ENV',
  'VERCEL',
  'VERCEL_ENV',
  'DATABASE',
  'DATABASE_URL',
  'SUPABASE_URL',
  'SUPABASE_SERVICE_ROLE_KEY',
  'PGLITE_DIR',
  'PROVIDER',
  'UNIPILE_DSN',
  'UNIPILE_API_KEY',
  'SANDBOX_LATENCY_MS',
  'CRON_SECRET',
  'ADMIN_PASSWORD',
  'APP_API_KEY',
];
function environment(vars: Record<string, string>): void {
  for (const name of VARS) vi.stubEnv(name, vars[name] ?? '');
}
const unipile = { UNIPILE_DSN: 'api1.unipile.test:13111', UNIPILE_API_KEY: UNIPILE_KEY };
const secrets = { CRON_SECRET: SECRET, ADMIN_PASSWORD: 'an admin password', APP_API_KEY: API_KEY };

const cron = () =>
  dmQueue(new Request('http://localhost/api/cron/dm-queue', { headers: { authorization: `Bearer ${SECRET}` } }));
const api = { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' };
const enqueue = () =>
  enqueueSync(
    new Request('http://localhost/api/sync-jobs', {
      method: 'POST',
      headers: api,
      body: JSON.stringify({ accountId: 'a0000000-0000-4000-8000-000000000001', kind: 'relations' }),
    }),
  );
const SYNC_ID = 'b0000000-0000-4000-8000-000000000001';
const status = () =>
  syncJobStatus(new Request(`http://localhost/api/sync-jobs/${SYNC_ID}`, { headers: api }), {
    params: Promise.resolve({ id: SYNC_ID }),
  });
async function read(res: Response) {
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
/** The error lines logged while `fn` ran. */
async function errorLines<T>(fn: () => Promise<T>): Promise<{ result: T; errors: Record<string, unknown>[] }> {
  const before = capturedLogs().length;
  const result = await fn();
  return {
    result,
    errors: capturedLogs()
      .slice(before)
      .filter((l) => l.level === 'error'),
  };
}

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'production-config-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
afterEach(() => {
  vi.unstubAllEnvs();
  setDb(undefined);
  setProvider(undefined);
});

const NO_DATABASE = /^no database configured: set DATABASE_URL/;

describe.each([
  ['NODE_ENV=production', { NODE_ENV: 'production' }],
  ['VERCEL=1', { NODE_ENV: 'test', VERCEL: '1' }],
])('%s without DATABASE_URL or SUPABASE_*', (_name, platform) => {
  let dir: string;
  beforeEach(() => {
    dir = path.join(tmp, `pglite-${Math.random().toString(36).slice(2)}`);
    environment({ ...platform, ...unipile, ...secrets, PGLITE_DIR: dir });
    setDb(undefined);
  });

  test('the cron route answers 500 with the reason, logs one error line, and no embedded database appears', async () => {
    const { result, errors } = await errorLines(async () => read(await cron()));
    expect(result.status).toBe(500);
    expect(result.body.error).toMatch(NO_DATABASE);
    expect(result.body.error).toContain('DATABASE=pglite');
    expect(errors).toHaveLength(1);
    expect(fs.existsSync(dir)).toBe(false);
  });

  test('the app API (POST /api/sync-jobs, GET /api/sync-jobs/<id>) answers 500 with the same reason', async () => {
    for (const call of [enqueue, status]) {
      const { status: code, body } = await read(await call());
      expect(code).toBe(500);
      expect(body.error).toMatch(NO_DATABASE);
    }
    expect(fs.existsSync(dir)).toBe(false);
  });

  test('/api/health answers 503 "misconfigured" with the reason, without opening anything', async () => {
    const { result, errors } = await errorLines(async () => read(await health()));
    expect(result.status).toBe(503);
    expect(result.body).toMatchObject({ status: 'misconfigured', db: 'not configured' });
    expect(result.body.problems).toEqual([expect.stringMatching(NO_DATABASE)]);
    expect(Object.keys(result.body.jobs as object)).toContain('dm-queue');
    expect(errors).toHaveLength(1);
    expect(fs.existsSync(dir)).toBe(false);
  });

  test('the database port refuses too (admin and scripts go through it)', async () => {
    await expect(openDb()).rejects.toThrow(NO_DATABASE);
    expect(fs.existsSync(dir)).toBe(false);
  });
});

describe('DATABASE=pglite: the embedded database in production on purpose', () => {
  test('the cron route runs on it and /api/health stays 200, naming it as a warning', async () => {
    const dir = path.join(tmp, 'pglite-opt-in');
    environment({ NODE_ENV: 'production', DATABASE: 'pglite', PGLITE_DIR: dir, ...unipile, ...secrets });
    try {
      const run = await read(await cron());
      expect(run.status).toBe(200);
      expect(run.body).toMatchObject({ job: 'dm-queue', status: 'ok' });
      expect(fs.existsSync(dir)).toBe(true);
      const report = await read(await health());
      expect(report.status).toBe(200);
      expect(report.body).toMatchObject({ status: 'ok', db: 'ok', problems: [] });
      expect(report.body.warnings).toEqual(expect.arrayContaining([expect.stringContaining('DATABASE=pglite')]));
      // Nothing seeded: demo data is npm run dev's business.
      expect(await sql(await getDb(), 'select 1 from accounts')).toEqual([]);
    } finally {
      await (await getDb()).close();
    }
  });
});

describe('production without Unipile credentials', () => {
  let db: Db;
  let dispose: () => Promise<void>;
  beforeAll(async () => {
    ({ db, dispose } = await freshDb('pglite'));
  });
  afterAll(() => dispose());
  beforeEach(async () => {
    await sql(db, 'truncate accounts, dm_queue, job_runs, cron_state cascade');
    await insertDms(db, await insertAccount(db), 3);
  });
  // The database is chosen (DATABASE=pglite) and injected, so only the provider is missing.
  const production = (vars: Record<string, string> = {}) => {
    environment({ NODE_ENV: 'production', DATABASE: 'pglite', SANDBOX_LATENCY_MS: '0', ...secrets, ...vars });
    setDb(db);
  };
  const NO_PROVIDER = /^no LinkedIn provider configured: set UNIPILE_DSN and UNIPILE_API_KEY/;

  test.each([
    ['neither variable', {}, /^((?!only).)*$/],
    ['only UNIPILE_DSN', { UNIPILE_DSN: 'api1.unipile.test:13111' }, /only UNIPILE_DSN is set/],
    ['only UNIPILE_API_KEY', { UNIPILE_API_KEY: UNIPILE_KEY }, /only UNIPILE_API_KEY is set/],
  ])('%s: the cron route answers 500, nothing is claimed or "sent", health 503', async (_case, vars, detail) => {
    production(vars);
    const run = await read(await cron());
    expect(run.status).toBe(500);
    expect(run.body.error).toMatch(NO_PROVIDER);
    expect(run.body.error).toMatch(detail);
    expect(run.body.error).toContain('PROVIDER=sandbox');
    expect(await statusCounts(db)).toEqual({ pending: 3 });
    expect(await sql(db, 'select 1 from job_runs')).toEqual([]);
    const report = await read(await health());
    expect(report.status).toBe(503);
    expect(report.body.status).toBe('misconfigured');
    expect(report.body.problems).toEqual([expect.stringMatching(NO_PROVIDER)]);
  });

  test('getProvider refuses the sandbox in production (whoever asks for it)', () => {
    production();
    expect(() => getProvider()).toThrow(NO_PROVIDER);
  });

  test('PROVIDER=sandbox: the sandbox runs on purpose; health 200 with a warning that nothing reaches LinkedIn', async () => {
    production({ PROVIDER: 'sandbox' });
    const run = await read(await cron());
    expect(run.status).toBe(200);
    expect(run.body).toMatchObject({ status: 'ok', succeeded: 3 });
    expect(await statusCounts(db)).toEqual({ sent: 3 });
    const report = await read(await health());
    expect(report.status).toBe(200);
    expect(report.body.warnings).toEqual(expect.arrayContaining([expect.stringContaining('PROVIDER=sandbox')]));
  });

  test('development with nothing set keeps the sandbox (npm run dev works on a bare machine)', async () => {
    environment({ NODE_ENV: 'development', DATABASE: '', SANDBOX_LATENCY_MS: '0', CRON_SECRET: SECRET });
    setDb(db);
    const run = await read(await cron());
    expect(run.status).toBe(200);
    expect(await statusCounts(db)).toEqual({ sent: 3 });
  });
});

describe('/api/health and the secrets', () => {
  let db: Db;
  let dispose: () => Promise<void>;
  beforeAll(async () => {
    ({ db, dispose } = await freshDb('pglite'));
  });
  afterAll(() => dispose());
  const deployed = (vars: Record<string, string>) => {
    environment({ NODE_ENV: 'production', DATABASE: 'pglite', ...unipile, ...secrets, ...vars });
    setDb(db);
  };

  test.each([
    ['unset', '', /^CRON_SECRET is not configured/],
    ['too short', 'short', /^CRON_SECRET is too short/],
  ])('CRON_SECRET %s: 503 "misconfigured" (every cron call is refused)', async (_case, value, problem) => {
    deployed({ CRON_SECRET: value });
    const report = await read(await health());
    expect(report.status).toBe(503);
    expect(report.body).toMatchObject({ status: 'misconfigured', db: 'ok' });
    expect(report.body.problems).toEqual([expect.stringMatching(problem)]);
  });

  test('CRON_SECRET unset under next dev too: the routes refuse it there as well', async () => {
    environment({ NODE_ENV: 'development', ADMIN_PASSWORD: 'x', APP_API_KEY: API_KEY });
    setDb(db);
    const report = await read(await health());
    expect(report.status).toBe(503);
    expect(report.body.status).toBe('misconfigured');
  });

  test('ADMIN_PASSWORD and APP_API_KEY missing: the jobs still run, so 200 with both as warnings', async () => {
    deployed({ ADMIN_PASSWORD: '', APP_API_KEY: '' });
    const report = await read(await health());
    expect(report.status).toBe(200);
    expect(report.body).toMatchObject({ status: 'ok', problems: [] });
    const warnings = report.body.warnings as string[];
    expect(warnings).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^ADMIN_PASSWORD is not set: \/admin answers 404/),
        expect.stringMatching(/^APP_API_KEY is not configured: \/api\/sync-jobs answers 500/),
      ]),
    );
  });

  test('everything set: 200, no problems, no warnings but the chosen embedded database', async () => {
    deployed({});
    const report = await read(await health());
    expect(report.status).toBe(200);
    expect(report.body.problems).toEqual([]);
    expect(report.body.warnings).toEqual([expect.stringContaining('DATABASE=pglite')]);
  });
});
