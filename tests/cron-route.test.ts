import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { GET, POST } from '../app/api/cron/dm-queue/route.ts';
import { setDb } from '../lib/db/index.ts';
import type { Db } from '../lib/db/types.ts';
import { setProvider } from '../lib/providers/index.ts';
import { freshDb, sql } from './helpers/db.ts';
import { fakeProvider } from './helpers/fake-provider.ts';
import { insertAccount, insertDms, statusCounts } from './helpers/fixtures.ts';
import { forbidInLogs } from './helpers/logs.ts';

const SECRET = 'test-cron-secret-do-not-log';
const URL_BASE = 'http://localhost/api/cron/dm-queue';
const auth = (value: string) => ({ authorization: value });
const call = (handler: typeof GET, query = '', headers: Record<string, string> = auth(`Bearer ${SECRET}`)) =>
  handler(new Request(`${URL_BASE}${query}`, { headers }));

let db: Db;
let dispose: () => Promise<void>;
const provider = fakeProvider();

beforeAll(async () => {
  ({ db, dispose } = await freshDb('pglite'));
  setDb(db);
  setProvider(provider);
  forbidInLogs(SECRET);
  forbidInLogs('a private message body');
});
afterAll(async () => {
  setDb(undefined);
  setProvider(undefined);
  await dispose();
});
beforeEach(async () => {
  process.env.CRON_SECRET = SECRET;
  await sql(db, 'truncate accounts, dm_queue, job_runs, cron_state cascade');
  provider.sends.length = 0;
});
afterEach(() => {
  delete process.env.CRON_SECRET;
});

async function seedDue(n = 3) {
  const a = await insertAccount(db);
  await insertDms(db, a, n, { body: 'a private message body' });
}

describe('cron route auth', () => {
  test.each([
    ['missing', {}],
    ['wrong secret', auth('Bearer not-the-secret-at-all')],
    ['wrong scheme', auth(`Basic ${SECRET}`)],
    ['lower-case scheme', auth(`bearer ${SECRET}`)],
    ['empty', auth('')],
    ['prefix of the secret', auth(`Bearer ${SECRET.slice(0, -1)}`)],
    ['secret plus a character', auth(`Bearer ${SECRET}x`)],
    ['no space', auth(`Bearer${SECRET}`)],
    ['Bearer undefined', auth('Bearer undefined')],
    ['9 KB header', auth(`Bearer ${'x'.repeat(9 * 1024)}`)],
  ])('401 and nothing claimed: %s', async (_name, headers) => {
    await seedDue();
    const res = await call(GET, '', headers as Record<string, string>);
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: 'unauthorized' });
    expect(await statusCounts(db)).toEqual({ pending: 3 });
    expect(await sql(db, 'select 1 from job_runs')).toHaveLength(0);
  });

  test.each([
    ['unset', undefined],
    ['empty', ''],
    ['too short', 'short'],
  ])('500 when CRON_SECRET is %s: fail closed, even for "Bearer undefined"', async (_name, value) => {
    if (value === undefined) delete process.env.CRON_SECRET;
    else process.env.CRON_SECRET = value;
    await seedDue();
    for (const header of ['Bearer undefined', 'Bearer ', `Bearer ${value ?? ''}`]) {
      const res = await call(GET, '', auth(header));
      expect(res.status).toBe(500);
      expect((await res.json()).error).toMatch(/CRON_SECRET is (not configured|too short)/);
    }
    expect(await statusCounts(db)).toEqual({ pending: 3 });
    expect(provider.sends).toHaveLength(0);
  });
});

describe('cron route parameters', () => {
  test.each([
    ['limit=0', /limit/],
    ['limit=10001', /limit/],
    ['limit=-1', /limit/],
    ['limit=abc', /limit/],
    ['limit=1.5', /limit/],
    ['budgetMs=0', /budgetMs/],
    ['budgetMs=-5', /budgetMs/],
    ['budgetMs=99999999999999999999', /budgetMs/],
    ['dryRun=yes', /dryRun/],
    ['limit=1&limit=2', /limit: given 2 times/],
    ['bogus=1', /bogus|Unrecognized/i],
  ])('400 with the zod message: ?%s', async (query, message) => {
    await seedDue();
    const res = await call(GET, `?${query}`);
    expect(res.status).toBe(400);
    expect((await res.json()).error).toMatch(message);
    expect(await statusCounts(db)).toEqual({ pending: 3 });
  });
});

describe('cron route runs', () => {
  test('GET and POST behave the same and return the summary', async () => {
    await seedDue(2);
    const keys = [
      'job',
      'runId',
      'trigger',
      'status',
      'claimed',
      'succeeded',
      'failed',
      'retried',
      'uncertain',
      'remaining',
      'hasMore',
      'durationMs',
      'budgetMs',
    ];
    const a = await call(GET);
    expect(a.status).toBe(200);
    const first = await a.json();
    expect(Object.keys(first)).toEqual(expect.arrayContaining(keys));
    expect(first).toMatchObject({
      job: 'dm-queue',
      trigger: 'manual',
      status: 'ok',
      claimed: 2,
      succeeded: 2,
      remaining: 0,
      hasMore: false,
      budgetMs: 55_000,
    });
    await seedDue(1);
    const b = await call(POST);
    expect(b.status).toBe(200);
    expect(await b.json()).toMatchObject({ job: 'dm-queue', status: 'ok', claimed: 1, succeeded: 1 });
    const runs = await sql<{ status: string; succeeded: number }>(
      db,
      'select status, succeeded from job_runs order by started_at',
    );
    expect(runs).toEqual([
      { status: 'ok', succeeded: 2 },
      { status: 'ok', succeeded: 1 },
    ]);
  });

  test('Vercel Cron user agent → trigger "cron"; budgetMs is clamped to the route budget', async () => {
    const res = await call(GET, '?budgetMs=999999', { ...auth(`Bearer ${SECRET}`), 'user-agent': 'vercel-cron/1.0' });
    expect(await res.json()).toMatchObject({ trigger: 'cron', budgetMs: 55_000 });
  });

  test('a second Vercel delivery of one slot is a 200 duplicate_delivery; curl and Run now are never deduplicated', async () => {
    await seedDue(2);
    const vercel = {
      ...auth(`Bearer ${SECRET}`),
      'user-agent': 'vercel-cron/1.0',
      'x-vercel-cron-schedule': '*/15 * * * *',
    };
    const first = await (await call(GET, '', vercel)).json();
    expect(first).toMatchObject({ trigger: 'cron', status: 'ok', succeeded: 2, executionId: expect.any(String) });
    const again = await call(GET, '', vercel);
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ status: 'skipped', reason: 'duplicate_delivery', runId: first.runId });
    const manual = [await call(GET), await call(POST)].map((r) => r.json());
    for (const m of await Promise.all(manual)) expect(m).toMatchObject({ trigger: 'manual', status: 'ok' });
    // Both manual calls ran; finding nothing, they share one run row (consecutive zero-work calls collapse).
    expect(await sql(db, 'select trigger, calls from job_runs order by started_at')).toEqual([
      { trigger: 'cron', calls: 1 },
      { trigger: 'manual', calls: 2 },
    ]);
  });

  test('dryRun claims nothing and reports what is due', async () => {
    await seedDue(4);
    const res = await call(GET, '?dryRun=1');
    expect(await res.json()).toMatchObject({ status: 'ok', claimed: 0, remaining: 4 });
    expect(await statusCounts(db)).toEqual({ pending: 4 });
  });

  test('limit caps the items of one run and reports partial with work left', async () => {
    await seedDue(5);
    const res = await call(GET, '?limit=2');
    expect(await res.json()).toMatchObject({
      status: 'partial',
      claimed: 2,
      succeeded: 2,
      remaining: 3,
      hasMore: true,
    });
  });

  test('a paused job answers 200 skipped and claims nothing', async () => {
    await seedDue(2);
    await db.rpc('cron_set_enabled', { p_job: 'dm-queue', p_enabled: false });
    const res = await call(GET);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'skipped', claimed: 0 });
    expect(await statusCounts(db)).toEqual({ pending: 2 });
  });
});

describe('continuation', () => {
  test('a partial run that made progress calls itself again, bounded by maxContinuations', async () => {
    const { cronRoute } = await import('../lib/cron/route.ts');
    const { dmQueue } = await import('../jobs/dm-queue.ts');
    const tasks: (() => Promise<void>)[] = [];
    const calls: { url: string; depth: string | null; auth: string | null }[] = [];
    const route = cronRoute(dmQueue, {
      schedule: (task) => tasks.push(task),
      fetch: (async (input: URL | RequestInfo, init?: RequestInit) => {
        const headers = new Headers(init?.headers);
        calls.push({
          url: String(input),
          depth: headers.get('x-cron-continuation-depth'),
          auth: headers.get('authorization'),
        });
        return new Response('{}');
      }) as typeof fetch,
    });
    await seedDue(5);
    const first = await route.GET(new Request(`${URL_BASE}?limit=2`, { headers: auth(`Bearer ${SECRET}`) }));
    expect(await first.json()).toMatchObject({ status: 'partial', trigger: 'manual' });
    expect(tasks).toHaveLength(1);
    await tasks[0]!();
    expect(calls).toEqual([{ url: `${URL_BASE}?limit=2`, depth: '1', auth: `Bearer ${SECRET}` }]);

    // The continuation itself is recorded as such; at the maximum depth it does not chain again.
    const last = await route.POST(
      new Request(`${URL_BASE}?limit=2`, {
        method: 'POST',
        headers: { ...auth(`Bearer ${SECRET}`), 'x-cron-continuation-depth': String(dmQueue.maxContinuations) },
      }),
    );
    expect(await last.json()).toMatchObject({ status: 'partial', trigger: 'continuation' });
    expect(tasks).toHaveLength(1);
    const runs = await sql<{ trigger: string; depth: number }>(
      db,
      'select trigger, depth from job_runs order by started_at',
    );
    expect(runs).toEqual([
      { trigger: 'manual', depth: 0 },
      { trigger: 'continuation', depth: 3 },
    ]);
  });

  test('a partial run that made no progress does not chain', async () => {
    const { cronRoute } = await import('../lib/cron/route.ts');
    const { defineJob } = await import('../lib/cron/job.ts');
    const tasks: unknown[] = [];
    const stuck = defineJob({
      name: 'stuck-job',
      maxDuration: 10,
      defaultLimit: 1,
      maxContinuations: 5,
      run: async () => ({ claimed: 0, succeeded: 0, failed: 0, retried: 0, uncertain: 0, remaining: 7, hasMore: true }),
    });
    const route = cronRoute(stuck, { schedule: (t) => tasks.push(t) });
    const res = await route.GET(
      new Request('http://localhost/api/cron/stuck-job', { headers: auth(`Bearer ${SECRET}`) }),
    );
    expect(await res.json()).toMatchObject({ status: 'partial', remaining: 7 });
    expect(tasks).toHaveLength(0);
  });
});
