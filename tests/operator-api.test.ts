import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import * as cronDmQueue from '../app/api/cron/dm-queue/route.ts';
import * as health from '../app/api/health/route.ts';
import * as jobActionRoute from '../app/api/jobs/[job]/[action]/route.ts';
import * as jobRoute from '../app/api/jobs/[job]/route.ts';
import * as jobsRoute from '../app/api/jobs/route.ts';
import { jobs } from '../jobs/index.ts';
import { SHARED_BUCKET } from '../lib/admin/auth.ts';
import { operatorApi, operatorThrottle } from '../lib/admin/operator-api.ts';
import { LoginThrottle } from '../lib/admin/throttle.ts';
import { setDb } from '../lib/db/index.ts';
import { setProvider } from '../lib/providers/index.ts';
import { schedules } from '../lib/schedules.ts';
import { forEachEngine, sql } from './helpers/db.ts';
import { fakeProvider } from './helpers/fake-provider.ts';
import { insertAccount, insertDms, statusCounts } from './helpers/fixtures.ts';
import { capturedLogs, forbidInLogs } from './helpers/logs.ts';

// The operator API's route files, served over real HTTP on loopback (node:http → the same Request/Response handlers Next
// calls), on a fresh database per engine; the CLI (`node scripts/cron.ts --pause`) is spawned against that server.
const ROOT = path.resolve(import.meta.dirname, '..');
const SECRET = 'operator-api-test-cron-secret';
const PASSWORD = 'operator-api-test-admin-password';
const bearer = (s = SECRET) => `Bearer ${s}`;
const basic = (password: string) => `Basic ${Buffer.from(`ops:${password}`).toString('base64')}`;

type Module = Partial<Record<string, (request: Request, context: { params: Promise<unknown> }) => Promise<Response>>>;
const ROUTES: { pattern: RegExp; module: Module; names: string[] }[] = [
  { pattern: /^\/api\/jobs$/, module: jobsRoute as unknown as Module, names: [] },
  { pattern: /^\/api\/jobs\/([^/]+)$/, module: jobRoute as unknown as Module, names: ['job'] },
  { pattern: /^\/api\/jobs\/([^/]+)\/([^/]+)$/, module: jobActionRoute as unknown as Module, names: ['job', 'action'] },
  { pattern: /^\/api\/cron\/dm-queue$/, module: cronDmQueue as unknown as Module, names: [] },
  { pattern: /^\/api\/health$/, module: health as unknown as Module, names: [] },
];

/** What Next does for a route file: match the path, pick the exported method (none → 405), pass the params. */
function serve(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const route = ROUTES.find((r) => r.pattern.test(url.pathname));
    if (!route) {
      res.writeHead(404).end();
      return;
    }
    const match = route.pattern.exec(url.pathname)!;
    const params = Object.fromEntries(route.names.map((n, i) => [n, decodeURIComponent(match[i + 1]!)]));
    const handler = route.module[req.method ?? 'GET'];
    if (!handler) {
      res.writeHead(405).end();
      return;
    }
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers.set(k, v);
    const body = chunks.length > 0 ? Buffer.concat(chunks) : undefined;
    const response = await handler(new Request(url, { method: req.method, headers, body }), {
      params: Promise.resolve(params),
    });
    res.writeHead(response.status, Object.fromEntries(response.headers));
    res.end(Buffer.from(await response.arrayBuffer()));
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        close: () => new Promise((r) => server.close(() => r())),
      }),
    ),
  );
}

const provider = fakeProvider();

forEachEngine('operator API over HTTP', (ctx) => {
  let app: { url: string; close: () => Promise<void> };
  const call = async (method: string, pathname: string, authorization: string | null = bearer()) => {
    const res = await fetch(`${app.url}${pathname}`, {
      method,
      headers: authorization === null ? {} : { authorization },
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
  };
  const enabled = async (job: string) =>
    (await sql<{ enabled: boolean }>(ctx.db, 'select enabled from cron_state where job = $1', [job]))[0]?.enabled;

  beforeAll(async () => {
    setDb(ctx.db);
    setProvider(provider);
    forbidInLogs(SECRET);
    forbidInLogs(PASSWORD);
    forbidInLogs('a private message body');
    app = await serve();
  });
  afterAll(async () => {
    await app.close();
    setDb(undefined);
    setProvider(undefined);
  });
  beforeEach(async () => {
    process.env.CRON_SECRET = SECRET;
    process.env.ADMIN_PASSWORD = PASSWORD;
    await sql(ctx.db, 'truncate accounts, dm_queue, job_runs, cron_state cascade');
    provider.sends.length = 0;
    // The wrong passwords of one test must not slow the next (the throttle itself is tested at the end).
    operatorThrottle.success(SHARED_BUCKET);
  });
  afterEach(() => {
    delete process.env.CRON_SECRET;
    delete process.env.ADMIN_PASSWORD;
  });

  async function seedDue(n = 3) {
    const account = await insertAccount(ctx.db);
    await insertDms(ctx.db, account, n, { body: 'a private message body' });
  }

  test('GET /api/jobs: every job of the registry, not paused, never run', async () => {
    const res = await call('GET', '/api/jobs');
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toContain('no-store');
    expect(res.body.jobs.map((j: { job: string }) => j.job)).toEqual(Object.keys(jobs));
    expect(res.body.jobs[0]).toMatchObject({
      job: 'dm-queue',
      paused: false,
      schedule: '*/15 * * * *',
      timezone: 'UTC',
      lastRun: null,
      lastSuccessAt: null,
    });
    expect(new Date(res.body.jobs[0].nextRunAt).getTime()).toBeGreaterThan(Date.now());
  });

  test('pause via the API → the next cron call is skipped and claims nothing; resume → it runs and sends', async () => {
    await seedDue(3);
    const paused = await call('POST', '/api/jobs/dm-queue/pause');
    expect(paused).toMatchObject({ status: 200, body: { job: 'dm-queue', paused: true, changed: true } });
    expect(await enabled('dm-queue')).toBe(false);
    // Pausing a paused job is harmless and says so.
    expect((await call('POST', '/api/jobs/dm-queue/pause')).body).toEqual({
      job: 'dm-queue',
      paused: true,
      changed: false,
    });

    const skipped = await call('GET', '/api/cron/dm-queue');
    expect(skipped).toMatchObject({ status: 200, body: { status: 'skipped', reason: 'paused', claimed: 0 } });
    expect(await statusCounts(ctx.db)).toEqual({ pending: 3 });
    expect(provider.sends).toHaveLength(0);
    const [listed] = (await call('GET', '/api/jobs')).body.jobs;
    expect(listed).toMatchObject({ job: 'dm-queue', paused: true, nextRunAt: null, lastRun: { status: 'skipped' } });
    expect((await call('GET', '/api/jobs/dm-queue')).body).toMatchObject({ job: 'dm-queue', paused: true });

    // Resumed with the admin password this time: either key works.
    const resumed = await call('POST', '/api/jobs/dm-queue/resume', basic(PASSWORD));
    expect(resumed).toMatchObject({ status: 200, body: { job: 'dm-queue', paused: false, changed: true } });
    const ran = await call('GET', '/api/cron/dm-queue');
    expect(ran).toMatchObject({ status: 200, body: { status: 'ok', claimed: 3, succeeded: 3 } });
    expect(await statusCounts(ctx.db)).toEqual({ sent: 3 });
    // Who did it is logged (how they authenticated and from where), never the credential.
    const actions = capturedLogs().filter((l) => l.msg === 'operator: pause job' || l.msg === 'operator: resume job');
    expect(actions.slice(-3).map((l) => [l.msg, l.via, l.changed])).toEqual([
      ['operator: pause job', 'api:cron-secret', true],
      ['operator: pause job', 'api:cron-secret', false],
      ['operator: resume job', 'api:admin-password', true],
    ]);
  });

  test('run → one manual run through runJob: a run row, the summary as a cron call answers it', async () => {
    await seedDue(2);
    const res = await call('POST', '/api/jobs/dm-queue/run');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ job: 'dm-queue', trigger: 'manual', status: 'ok', claimed: 2, succeeded: 2 });
    const rows = await sql<{ id: string; trigger: string; status: string; claimed: number }>(
      ctx.db,
      'select id, trigger, status, claimed from job_runs',
    );
    expect(rows).toEqual([{ id: res.body.runId, trigger: 'manual', status: 'ok', claimed: 2 }]);
    expect(await statusCounts(ctx.db)).toEqual({ sent: 2 });

    // The cron route's query: a dry run claims nothing; a bad one is a 400 with zod's words and runs nothing.
    await seedDue(1);
    expect((await call('POST', '/api/jobs/dm-queue/run?dryRun=1')).body).toMatchObject({ claimed: 0 });
    const bad = await call('POST', '/api/jobs/dm-queue/run?limit=abc');
    expect(bad).toEqual(
      expect.objectContaining({ status: 400, body: { error: 'limit: limit must be a whole number' } }),
    );
    expect(await statusCounts(ctx.db)).toEqual({ sent: 2, pending: 1 });

    // A paused job's Run now is skipped, as /admin's is.
    await call('POST', '/api/jobs/dm-queue/pause');
    expect((await call('POST', '/api/jobs/dm-queue/run')).body).toMatchObject({ status: 'skipped', reason: 'paused' });
    expect(await statusCounts(ctx.db)).toEqual({ sent: 2, pending: 1 });
  });

  test.each([
    ['no Authorization header', null],
    ['a wrong secret', bearer('not-the-secret-at-all-really')],
    ['a prefix of the secret', bearer(SECRET.slice(0, -1))],
    ['the admin password as a bearer', bearer(PASSWORD)],
    ['the cron secret as the Basic password', basic(SECRET)],
    ['a wrong admin password', basic(`${PASSWORD}x`)],
    ['Basic without a colon', `Basic ${Buffer.from(PASSWORD).toString('base64')}`],
  ])('401 with %s, and nothing changes', async (_case, authorization) => {
    for (const [method, pathname] of [
      ['POST', '/api/jobs/dm-queue/pause'],
      ['POST', '/api/jobs/dm-queue/run'],
      ['GET', '/api/jobs'],
      ['GET', '/api/jobs/dm-queue'],
      ['POST', '/api/jobs/no-such-job/pause'], // refused before the job is even looked up
    ] as const) {
      const res = await call(method, pathname, authorization);
      expect(res.status, `${method} ${pathname}`).toBe(401);
      expect(res.body).toEqual({ error: 'unauthorized' });
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer, Basic realm=/);
    }
    expect(await enabled('dm-queue')).toBeUndefined();
    expect(await sql(ctx.db, 'select 1 from job_runs')).toHaveLength(0);
  });

  test('fail closed: with neither CRON_SECRET nor ADMIN_PASSWORD configured every call is a 500, even in development', async () => {
    delete process.env.ADMIN_PASSWORD;
    process.env.CRON_SECRET = 'short';
    const short = await call('POST', '/api/jobs/dm-queue/pause', bearer('short'));
    expect(short).toMatchObject({ status: 500, body: { error: expect.stringMatching(/CRON_SECRET is too short/) } });
    delete process.env.CRON_SECRET;
    const nodeEnv = process.env.NODE_ENV;
    // /admin is open in development without ADMIN_PASSWORD; the API is not.
    (process.env as Record<string, string>).NODE_ENV = 'development';
    try {
      for (const authorization of [null, 'Bearer undefined', 'Bearer ', basic('')]) {
        const res = await call('POST', '/api/jobs/dm-queue/pause', authorization);
        expect(res.status).toBe(500);
        expect(res.body.error).toBe('CRON_SECRET is not configured (nor is ADMIN_PASSWORD)');
      }
    } finally {
      (process.env as Record<string, string | undefined>).NODE_ENV = nodeEnv;
    }
    // Only one of them configured: that one works, the other scheme is a plain 401.
    process.env.ADMIN_PASSWORD = PASSWORD;
    expect((await call('GET', '/api/jobs', basic(PASSWORD))).status).toBe(200);
    expect((await call('GET', '/api/jobs', bearer())).status).toBe(401);
    expect(await enabled('dm-queue')).toBeUndefined();
  });

  test.each([
    ['POST', '/api/jobs/nope/pause', 404, { error: 'unknown job nope', jobs: Object.keys(jobs) }],
    ['GET', '/api/jobs/nope', 404, { error: 'unknown job nope', jobs: Object.keys(jobs) }],
    [
      'POST',
      '/api/jobs/dm-queue/explode',
      404,
      { error: 'unknown action explode', actions: ['pause', 'resume', 'run'] },
    ],
    ['POST', '/api/jobs/DM%20Queue/pause', 400, { error: 'job: lower-case letters, digits, - and _ (e.g. dm-queue)' }],
    ['POST', `/api/jobs/${'a'.repeat(65)}/pause`, 400, { error: 'job: at most 64 characters' }],
    ['POST', '/api/jobs/constructor/pause', 404, { error: 'unknown job constructor', jobs: Object.keys(jobs) }],
    ['POST', '/api/jobs/dm-queue/pause?force=1', 400, { error: 'query: Unrecognized key: "force"' }],
    ['GET', '/api/jobs?all=1', 400, { error: 'query: Unrecognized key: "all"' }],
    ['GET', '/api/jobs/dm-queue/pause', 405, { error: 'method not allowed: use POST' }],
    ['DELETE', '/api/jobs/dm-queue/pause', 405, { error: 'method not allowed: use POST' }],
    ['POST', '/api/jobs', 405, { error: 'method not allowed: use GET' }],
    ['PUT', '/api/jobs/dm-queue', 405, { error: 'method not allowed: use GET' }],
  ])('%s %s → %d', async (method, pathname, status, body) => {
    const res = await call(method, pathname);
    expect(res.status).toBe(status);
    expect(res.body).toEqual(body);
    if (status === 405) expect(res.headers.get('allow')).toBe(method === 'POST' || method === 'PUT' ? 'GET' : 'POST');
    expect(await enabled('dm-queue')).toBeUndefined();
    expect(await sql(ctx.db, 'select 1 from job_runs')).toHaveLength(0);
  });

  describe('npm run cron -- --pause / --resume', () => {
    let dir: string;
    beforeAll(() => {
      // Its own directory: the runner reads vercel.json and .env.local from its cwd, and a developer's must not leak in.
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'operator-cli-'));
      fs.copyFileSync(path.join(ROOT, 'vercel.json'), path.join(dir, 'vercel.json'));
    });
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    const cli = (args: string[], secret = SECRET) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const proc = spawn(process.execPath, [path.join(ROOT, 'scripts/cron.ts'), ...args], {
          cwd: dir,
          env: { PATH: process.env.PATH, NODE_ENV: 'test', APP_URL: app.url, CRON_SECRET: secret },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        proc.stdout.on('data', (d: Buffer) => {
          stdout += d;
        });
        proc.stderr.on('data', (d: Buffer) => {
          stderr += d;
        });
        proc.on('close', (code) => resolve({ code, stdout, stderr }));
      });

    test('--pause then --resume: one JSON line each, and the cron route follows', async () => {
      await seedDue(1);
      const paused = await cli(['--pause', 'dm-queue']);
      expect(paused.code, paused.stderr).toBe(0);
      expect(paused.stdout.trim().split('\n')).toHaveLength(1);
      expect(JSON.parse(paused.stdout)).toEqual({ job: 'dm-queue', paused: true, changed: true });
      expect(await enabled('dm-queue')).toBe(false);
      expect((await call('GET', '/api/cron/dm-queue')).body).toMatchObject({ status: 'skipped', reason: 'paused' });

      const resumed = await cli(['--resume', 'dm-queue']);
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(JSON.parse(resumed.stdout)).toEqual({ job: 'dm-queue', paused: false, changed: true });
      expect((await call('GET', '/api/cron/dm-queue')).body).toMatchObject({ status: 'ok', claimed: 1 });
    });

    test.each([
      ['an unknown job', ['--pause', 'dm-qeueu'], 'unknown job dm-qeueu'],
      ['no job', ['--resume'], 'unknown job (none given)'],
    ])('%s: exit 2, the known jobs listed, nothing changed', async (_case, args, message) => {
      const res = await cli(args);
      expect(res.code).toBe(2);
      expect(res.stderr).toContain(message);
      expect(res.stderr).toContain(
        `jobs: ${schedules()
          .map((s) => s.job)
          .join(', ')}`,
      );
      expect(JSON.parse(res.stdout)).toMatchObject({ error: expect.stringContaining(message) });
      expect(await enabled('dm-queue')).toBeUndefined();
    });

    test('a wrong secret: exit 1 with the 401, nothing changed', async () => {
      const res = await cli(['--pause', 'dm-queue'], 'not-the-operator-secret');
      expect(res.code).toBe(1);
      expect(res.stderr).toContain('pause dm-queue: 401 unauthorized');
      expect(JSON.parse(res.stdout)).toEqual({ error: 'pause dm-queue: 401 unauthorized', status: 401 });
      expect(await enabled('dm-queue')).toBeUndefined();
    });
  });
});

describe('operator API: password guesses are throttled', () => {
  test('wrong admin passwords past the free ones are refused with 429 and Retry-After, before any check', async () => {
    const throttle = new LoginThrottle({ freeFailures: 1, baseMs: 20_000, maxStepMs: 20_000, maxWaitMs: 5_000 });
    const env = { ...process.env, CRON_SECRET: SECRET, ADMIN_PASSWORD: PASSWORD };
    const api = operatorApi(jobs, { throttle, env });
    const get = (authorization: string) =>
      api.jobs.GET(new Request('http://localhost/api/jobs', { headers: { authorization } }), {
        params: Promise.resolve({}),
      });
    expect((await get(basic('guess-1'))).status).toBe(401); // free
    expect((await get(basic('guess-2'))).status).toBe(401); // now owes 20 s
    const refused = await get(basic(PASSWORD));
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('20');
    // The cron secret is not a password: it is checked as the cron routes check it, never throttled.
    const res = await api.action.POST(
      new Request('http://localhost/api/jobs/nope/pause', { method: 'POST', headers: { authorization: bearer() } }),
      { params: Promise.resolve({ job: 'nope', action: 'pause' }) },
    );
    expect(res.status).toBe(404);
  });
});

describe('operator API on a misconfigured deployment', () => {
  test('production without a database: 500 with the reason, after the caller is authorized (a stranger gets 401)', async () => {
    const env: NodeJS.ProcessEnv = {
      NODE_ENV: 'production',
      CRON_SECRET: SECRET,
      UNIPILE_DSN: 'api1.unipile.com:1',
      UNIPILE_API_KEY: 'k',
    };
    const api = operatorApi(jobs, { env, throttle: new LoginThrottle() });
    const pause = (authorization: string) =>
      api.action.POST(
        new Request('http://localhost/api/jobs/dm-queue/pause', { method: 'POST', headers: { authorization } }),
        { params: Promise.resolve({ job: 'dm-queue', action: 'pause' }) },
      );
    const refused = await pause(bearer());
    expect(refused.status).toBe(500);
    expect((await refused.json()).error).toMatch(/^no database configured/);
    expect((await pause(bearer('not-the-secret-at-all-really'))).status).toBe(401);
  });
});
