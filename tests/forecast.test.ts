import { afterEach, expect, test } from 'vitest';
import { GET as getForecast } from '../app/api/forecast/route.ts';
import { dmQueue } from '../jobs/dm-queue.ts';
import { setDb } from '../lib/db/index.ts';
import type { Db } from '../lib/db/types.ts';
import { forecastQueue, runTimes } from '../lib/forecast/index.ts';
import { forEachEngine, sql } from './helpers/db.ts';
import { insertAccount, insertDms } from './helpers/fixtures.ts';

/**
 * The backlog forecast (lib/forecast) against a brute-force simulation on a real database: 30 accounts with mixed
 * zones (one crossing the US clocks change on 8 March), caps, windows (one over midnight), pacing and scheduled items;
 * the forecast is made at the start, then the real claim_due_dms runs at every scheduled tick of the job for 7 days
 * (claiming until it returns nothing, as a run's drain does) and every claimed DM is settled as sent at that tick.
 * Per account, the sends per local day and the day of the last send must be the forecast's. Jitter is 0 here (the
 * forecast is exact); an account with jitter is checked against the documented range.
 */

const START = new Date('2026-03-02T00:07:00Z'); // a Monday
const DAYS = 7;
const ZONES = [
  'UTC',
  'America/New_York',
  'Europe/Berlin',
  'Asia/Tokyo',
  'Asia/Kolkata',
  'Australia/Sydney',
  'America/Los_Angeles',
  'Pacific/Auckland',
];

function rng(seed: number) {
  let x = seed;
  return (n: number) => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x % n;
  };
}

async function build(db: Db, jitterAccount: boolean): Promise<string[]> {
  const r = rng(42);
  const ids: string[] = [];
  for (let i = 0; i < 30; i++) {
    const windowed = i % 3 === 0;
    const overnight = i === 9;
    const id = await insertAccount(db, {
      name: `acct-${String(i).padStart(2, '0')}`,
      timezone: ZONES[i % ZONES.length],
      dm_daily_limit: 3 + r(25),
      dm_min_interval_seconds: i % 4 === 1 ? [600, 1800, 3600][r(3)]! : 0,
      dm_jitter_seconds: jitterAccount && i === 5 ? 900 : 0,
      dm_window_start_hour: overnight ? 22 : windowed ? 8 + r(3) : null,
      dm_window_end_hour: overnight ? 6 : windowed ? 15 + r(4) : null,
    });
    ids.push(id);
    // Some already sent today (the cap counts them), a backlog due now, and some scheduled later in the week.
    if (i % 5 === 0) {
      const at = new Date(START.getTime() - 3 * 60_000);
      await insertDms(db, id, 2, { status: 'sent', sent_at: at, attempted_at: at, send_at: at });
    }
    await insertDms(db, id, r(90), { send_at: new Date(START.getTime() - 3600_000) });
    if (i % 2 === 0) {
      await insertDms(db, id, 1 + r(15), { send_at: new Date(START.getTime() + (1 + r(100)) * 3600_000) });
    }
  }
  return ids;
}

/** The job at every scheduled tick: claim until nothing more, settle all as sent at the tick. */
async function simulate(db: Db, until: Date): Promise<number> {
  const ticks = runTimes(dmQueue.schedule, START, until);
  let calls = 0;
  for (const t of ticks) {
    const iso = t.toISOString();
    for (;;) {
      const [row] = await sql<{ n: number }>(db, 'select count(*)::int as n from claim_due_dms(1000, 60, null, $1)', [
        iso,
      ]);
      calls++;
      if (row!.n === 0) break;
      await sql(db, `update dm_queue set status = 'sent', sent_at = $1, lease_until = null where status = 'sending'`, [
        iso,
      ]);
      calls++;
    }
  }
  return calls;
}

async function sentPerDay(db: Db, since: Date): Promise<Map<string, Map<string, number>>> {
  const rows = await sql<{ account_id: string; day: string; n: number }>(
    db,
    `select d.account_id, to_char((d.sent_at at time zone a.timezone)::date, 'YYYY-MM-DD') as day, count(*)::int as n
       from dm_queue d join accounts a on a.id = d.account_id
      where d.status = 'sent' and d.sent_at >= $1 group by 1, 2`,
    [since.toISOString()],
  );
  const out = new Map<string, Map<string, number>>();
  for (const r of rows) {
    if (!out.has(r.account_id)) out.set(r.account_id, new Map());
    out.get(r.account_id)!.set(r.day, r.n);
  }
  return out;
}

forEachEngine('backlog forecast', (ctx) => {
  test('30 accounts, 7 days: the forecast made at the start is what the real claim does', async () => {
    await build(ctx.db, false);
    const until = new Date(START.getTime() + DAYS * 86_400_000);
    const fc = await forecastQueue(ctx.db, {
      queue: 'dm',
      period: 'day',
      schedule: dmQueue.schedule,
      job: 'dm-queue',
      now: START,
      horizonDays: DAYS,
    });
    expect(fc.accounts).toHaveLength(30);
    const t0 = performance.now();
    const calls = await simulate(ctx.db, until);
    console.log(
      `[forecast] ${ctx.engine}: simulated ${DAYS} days with ${calls} SQL calls in ${Math.round(performance.now() - t0)} ms`,
    );
    const sent = await sentPerDay(ctx.db, START);
    const left = new Map(
      (
        await sql<{ account_id: string; n: number }>(
          ctx.db,
          `select account_id, count(*)::int as n from dm_queue where status = 'pending' group by 1`,
        )
      ).map((r) => [r.account_id, r.n]),
    );
    let cleared = 0;
    let notCleared = 0;
    for (const a of fc.accounts) {
      // The forecast's horizon is the simulated week: the same ticks.
      const forecastDays = Object.fromEntries(a.days.map((d) => [d.day, d.n]));
      const simulated = Object.fromEntries(sent.get(a.accountId) ?? []);
      expect(simulated, `${a.name} (${a.timezone}) per local day`).toEqual(forecastDays);
      expect(left.get(a.accountId) ?? 0, `${a.name} left after the week`).toBe(a.left);
      if (a.clearsAt) {
        cleared++;
        expect(left.get(a.accountId) ?? 0, a.name).toBe(0);
        const lastDay = Object.keys(simulated).sort().at(-1);
        expect(lastDay, `${a.name} last day`).toBe(a.clearsOn);
      } else {
        notCleared++;
        expect(left.get(a.accountId) ?? 0, `${a.name} still has a backlog`).toBeGreaterThan(0);
      }
    }
    // The case is mixed: some backlogs clear within the week, some do not.
    expect(cleared).toBeGreaterThan(5);
    expect(notCleared).toBeGreaterThan(0);
  }, 240_000);

  test('jitter: the last send lies between earliestAt (no jitter) and clearsAt (full jitter)', async () => {
    await sql(ctx.db, 'truncate accounts, dm_queue cascade');
    const id = await insertAccount(ctx.db, { dm_min_interval_seconds: 900, dm_jitter_seconds: 1800 });
    await insertDms(ctx.db, id, 12, { send_at: new Date(START.getTime() - 60_000) });
    const fc = await forecastQueue(ctx.db, {
      queue: 'dm',
      period: 'day',
      schedule: dmQueue.schedule,
      job: 'dm-queue',
      now: START,
    });
    const [a] = fc.accounts;
    expect(a!.earliestAt! < a!.clearsAt!).toBe(true);
    await simulate(ctx.db, new Date(START.getTime() + 86_400_000));
    const [last] = await sql<{ at: string }>(ctx.db, `select max(sent_at) as at from dm_queue where status = 'sent'`);
    const lastMs = new Date(last!.at).getTime();
    expect(lastMs).toBeGreaterThanOrEqual(new Date(a!.earliestAt!).getTime());
    expect(lastMs).toBeLessThanOrEqual(new Date(a!.clearsAt!).getTime());
  }, 60_000);

  afterEach(() => {
    delete process.env.APP_API_KEY;
    setDb(undefined);
  });

  test('GET /api/forecast: the same forecast over HTTP; 400 with the zod message; 401 without the key', async () => {
    await sql(ctx.db, 'truncate accounts, dm_queue, invitations, cron_state cascade');
    const id = await insertAccount(ctx.db, { name: 'api', dm_daily_limit: 10 });
    await insertDms(ctx.db, id, 25, { send_at: new Date(Date.now() - 60_000) });
    setDb(ctx.db);
    const key = 'an-app-api-key-of-enough-length';
    process.env.APP_API_KEY = key;
    const call = (q: string, k: string | null = key) =>
      getForecast(
        new Request(`http://localhost/api/forecast${q}`, { headers: k ? { authorization: `Bearer ${k}` } : {} }),
      );
    const res = await call('?queue=dm');
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.queues.map((q: { queue: string }) => q.queue)).toEqual(['dm']);
    const [a] = body.queues[0].accounts;
    // 25 at 10 a day: 10 today (or what is left of it), done on the third local day at the latest.
    expect(a).toMatchObject({ accountId: id, pending: 25, blocked: null, left: 0 });
    expect(a.days.reduce((n: number, d: { n: number }) => n + d.n, 0)).toBe(25);
    expect(body.clearsAt).toBe(a.clearsAt);
    const bad = await call('?queue=posts&horizonDays=0');
    expect(bad.status).toBe(400);
    expect((await bad.json()).error).toMatch(/^queue: .*; horizonDays: /);
    expect((await call('', null)).status).toBe(401);
    // A paused job: nothing clears, and the forecast says why.
    await ctx.db.rpc('cron_set_enabled', { p_job: 'dm-queue', p_enabled: false });
    const paused = await (await call('?queue=dm')).json();
    expect(paused.clearsAt).toBeNull();
    expect(paused.queues[0].accounts[0]).toMatchObject({ blocked: 'job_paused', clearsAt: null });
  });
});
