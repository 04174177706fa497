import { afterEach, beforeAll, expect, test } from 'vitest';
import { analytics } from '../jobs/analytics.ts';
import { resetAnalyticsDay, runAnalyticsChunk } from '../lib/analytics/queries.ts';
import { leaseSecondsFor, type RunSummary, runJob } from '../lib/cron/run.ts';
import type { Db } from '../lib/db/types.ts';
import { forEachEngine, sql } from './helpers/db.ts';
import { insertAccount } from './helpers/fixtures.ts';

/** 00:05 UTC on 2026-03-10: yesterday is 03-09, the window 03-03..03-09, and today (03-10) must never be finalised. */
const NOW = new Date('2026-03-10T00:05:00Z');
const WINDOW = ['2026-03-03', '2026-03-09'] as const;
const FIRST_DAY = Date.parse('2026-02-26T00:00:00Z');
const SEEDED_DAYS = 13; // 02-26 .. 03-10 (today)
const DAY_MS = 86_400_000;
const LEASE_MS = leaseSecondsFor(analytics) * 1000;

/** Deterministic random numbers (mulberry32), so a failure reproduces. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A timestamp on one of the seeded days; a quarter of them exactly on a day boundary or the last microsecond before. */
function stamp(rand: () => number): string {
  const day = new Date(FIRST_DAY + Math.floor(rand() * SEEDED_DAYS) * DAY_MS).toISOString().slice(0, 10);
  const r = rand();
  if (r < 0.15) return `${day}T00:00:00Z`;
  if (r < 0.25) return `${day}T23:59:59.999999Z`;
  return new Date(Date.parse(`${day}T00:00:00Z`) + Math.floor(rand() * DAY_MS)).toISOString();
}

/** ~60 accounts of every status, DMs and posts of every status with their timestamps spread over 13 days. */
async function seed(db: Db, seedValue = 42): Promise<string[]> {
  const rand = prng(seedValue);
  const accounts: string[] = [];
  for (let i = 0; i < 60; i++) {
    const status = i % 10 === 3 ? 'paused' : i % 10 === 7 ? 'disconnected' : 'active';
    accounts.push(await insertAccount(db, { status }));
  }
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
  const dms: Record<string, string | null>[] = [];
  for (let i = 0; i < 3000; i++) {
    // Some accounts are quiet: the first five have no activity at all.
    const account = accounts[5 + Math.floor(rand() ** 1.5 * 55)]!;
    const status = pick(['sent', 'sent', 'sent', 'failed', 'uncertain', 'pending', 'sending', 'cancelled'] as const);
    const attempted = stamp(rand);
    dms.push({
      account_id: account,
      status,
      attempted_at: status === 'pending' ? null : attempted,
      sent_at: status === 'sent' ? (rand() < 0.5 ? attempted : stamp(rand)) : null,
      failed_at: status === 'failed' ? stamp(rand) : null,
    });
  }
  await sql(
    db,
    `insert into dm_queue (account_id, recipient_id, body, status, attempted_at, sent_at, failed_at)
     select x.account_id, 'r', 'hello', x.status, x.attempted_at, x.sent_at, x.failed_at
       from jsonb_to_recordset($1::text::jsonb)
         as x(account_id uuid, status text, attempted_at timestamptz, sent_at timestamptz, failed_at timestamptz)`,
    [JSON.stringify(dms)],
  );
  const posts: Record<string, string | null>[] = [];
  for (let i = 0; i < 700; i++) {
    const status = pick(['published', 'published', 'failed', 'scheduled', 'draft', 'uncertain'] as const);
    posts.push({
      account_id: accounts[5 + Math.floor(rand() * 55)]!,
      status,
      scheduled_for: stamp(rand),
      published_at: status === 'published' ? stamp(rand) : null,
      failed_at: status === 'failed' ? stamp(rand) : null,
    });
  }
  await sql(
    db,
    `insert into posts (account_id, content, status, scheduled_for, published_at, failed_at)
     select x.account_id, 'post', x.status, x.scheduled_for, x.published_at, x.failed_at
       from jsonb_to_recordset($1::text::jsonb)
         as x(account_id uuid, status text, scheduled_for timestamptz, published_at timestamptz, failed_at timestamptz)`,
    [JSON.stringify(posts)],
  );
  return accounts;
}

interface StatRow {
  day: string;
  account_id: string;
  dms_sent: number;
  dms_failed: number;
  dms_uncertain: number;
  posts_published: number;
  posts_failed: number;
}

/** The oracle: a direct GROUP BY over the source rows, with the same day rules, written independently. */
async function oracle(db: Db, from: string, to: string): Promise<StatRow[]> {
  return sql<StatRow>(
    db,
    `with ev as (
       select account_id, sent_at as t, 'dms_sent' as k from dm_queue where status = 'sent'
       union all select account_id, failed_at, 'dms_failed' from dm_queue where status = 'failed'
       union all select account_id, attempted_at, 'dms_uncertain' from dm_queue where status = 'uncertain'
       union all select account_id, published_at, 'posts_published' from posts where status = 'published'
       union all select account_id, failed_at, 'posts_failed' from posts where status = 'failed'
     )
     select to_char(t at time zone 'UTC', 'YYYY-MM-DD') as day, account_id::text,
            count(*) filter (where k = 'dms_sent')::int as dms_sent,
            count(*) filter (where k = 'dms_failed')::int as dms_failed,
            count(*) filter (where k = 'dms_uncertain')::int as dms_uncertain,
            count(*) filter (where k = 'posts_published')::int as posts_published,
            count(*) filter (where k = 'posts_failed')::int as posts_failed
       from ev
      where t is not null and to_char(t at time zone 'UTC', 'YYYY-MM-DD') between $1 and $2
      group by 1, 2
      order by 1, 2`,
    [from, to],
  );
}

async function stats(db: Db, from: string, to: string): Promise<StatRow[]> {
  return sql<StatRow>(
    db,
    `select day::text, account_id::text, dms_sent, dms_failed, dms_uncertain, posts_published, posts_failed
       from daily_stats where day between $1 and $2 order by 1, 2`,
    [from, to],
  );
}

/** Every figure of every day in [from, to], per account and platform-wide, equals the oracle's. */
async function expectMatchesOracle(db: Db, from: string, to: string): Promise<void> {
  const expected = await oracle(db, from, to);
  expect(expected.length).toBeGreaterThan(50);
  expect(await stats(db, from, to)).toEqual(expected);
  const platform = await sql<Record<string, number | string>>(
    db,
    `select day::text, accounts, dms_sent, dms_failed, dms_uncertain, posts_published, posts_failed
       from daily_platform_stats where day between $1 and $2 order by day`,
    [from, to],
  );
  const days: string[] = [];
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= Date.parse(`${to}T00:00:00Z`); t += DAY_MS)
    days.push(new Date(t).toISOString().slice(0, 10));
  const keys = ['dms_sent', 'dms_failed', 'dms_uncertain', 'posts_published', 'posts_failed'] as const;
  expect(platform).toEqual(
    days.map((day) => {
      const rows = expected.filter((r) => r.day === day);
      return {
        day,
        accounts: rows.length,
        ...Object.fromEntries(keys.map((k) => [k, rows.reduce((n, r) => n + r[k], 0)])),
      };
    }),
  );
  const incomplete = await sql(
    db,
    "select day from analytics_days where day between $1 and $2 and status <> 'complete'",
    [from, to],
  );
  expect(incomplete).toEqual([]);
}

const runAt = (db: Db, now: Date, options: { budgetMs?: number; limit?: number } = {}) =>
  runJob(analytics, {
    db,
    trigger: 'manual',
    budgetMs: options.budgetMs ?? 60_000,
    limit: options.limit,
    now: () => now,
  });

/** Runs the job until it reports ok; every run before that must be partial with work left. */
async function driveUntilDone(
  db: Db,
  now: Date,
  options: { budgetMs?: number; limit?: number } = {},
): Promise<RunSummary[]> {
  const runs: RunSummary[] = [];
  for (let i = 0; i < 500; i++) {
    const summary = await runAt(db, now, options);
    runs.push(summary);
    if (summary.status === 'ok') {
      expect(summary.hasMore).toBe(false);
      return runs;
    }
    expect(summary).toMatchObject({ status: 'partial', hasMore: true });
    expect(summary.claimed).toBeGreaterThan(0);
  }
  throw new Error('the analytics job did not finish in 500 runs');
}

const resetAnalytics = (db: Db) =>
  sql(db, 'truncate analytics_days, daily_stats, daily_platform_stats, job_runs, cron_state');

/** A database that dies at the Nth chunk: before the call, or after it committed; every later call fails too. */
function dyingDb(db: Db, failAt: number, when: 'before' | 'after') {
  let chunks = 0;
  let dead = false;
  const dying: Db = {
    ...db,
    async rpc<T>(fn: string, args?: Record<string, unknown>): Promise<T[]> {
      if (dead) throw new Error('connection lost: the function was killed');
      if (fn === 'analytics_run_chunk' && ++chunks === failAt) {
        dead = true;
        if (when === 'after') await db.rpc(fn, args);
        throw new Error(`killed ${when} chunk ${failAt}`);
      }
      return db.rpc<T>(fn, args);
    },
  };
  return { db: dying, died: () => dead, chunks: () => chunks };
}

forEachEngine('analytics job', (ctx) => {
  beforeAll(async () => {
    await seed(ctx.db);
  });
  afterEach(async () => {
    delete process.env.ANALYTICS_CHUNK_SIZE;
    await resetAnalytics(ctx.db);
  });

  test('oracle: one chunk per run (budgetMs=1) matches a direct GROUP BY; re-running the whole job changes nothing', async () => {
    const runs = await driveUntilDone(ctx.db, NOW, { budgetMs: 1, limit: 7 });
    // 60 accounts in chunks of 7: 9 chunks per day, 7 days, one chunk per run.
    expect(runs).toHaveLength(63);
    expect(runs.every((r) => (r.details?.chunks ?? 0) === 1)).toBe(true);
    expect(runs.at(-2)).toMatchObject({ remaining: 1, cursor: { day: WINDOW[1] } });
    await expectMatchesOracle(ctx.db, ...WINDOW);

    // Nothing is left: the next run is ok and touches nothing.
    expect(await runAt(ctx.db, NOW)).toMatchObject({ status: 'ok', claimed: 0, remaining: 0 });

    // Recompute every day over the existing figures: upserts from source rows, never increments. In between, one
    // account's activity goes away entirely, and its rows with it.
    const [gone] = await sql<{ account_id: string }>(
      ctx.db,
      "select account_id::text from daily_stats where day = '2026-03-05' limit 1",
    );
    await sql(ctx.db, 'delete from dm_queue where account_id = $1', [gone!.account_id]);
    await sql(ctx.db, 'delete from posts where account_id = $1', [gone!.account_id]);
    for (let t = Date.parse(`${WINDOW[0]}T00:00:00Z`); t <= Date.parse(`${WINDOW[1]}T00:00:00Z`); t += DAY_MS)
      expect(await resetAnalyticsDay(ctx.db, new Date(t).toISOString().slice(0, 10))).toBe(true);
    const again = await driveUntilDone(ctx.db, NOW, { budgetMs: 1, limit: 11 });
    expect(again).toHaveLength(7 * 6);
    await expectMatchesOracle(ctx.db, ...WINDOW);
    expect(await sql(ctx.db, 'select 1 from daily_stats where account_id = $1', [gone!.account_id])).toEqual([]);
    // A whole run with the default budget also lands on the same figures.
    for (const day of ['2026-03-03', '2026-03-09']) await resetAnalyticsDay(ctx.db, day);
    expect(await runAt(ctx.db, NOW)).toMatchObject({ status: 'ok', hasMore: false, claimed: 120 });
    await expectMatchesOracle(ctx.db, ...WINDOW);
  });

  test('kill and resume: a run killed at any chunk, before or after it commits, resumes and matches the oracle', async () => {
    process.env.ANALYTICS_CHUNK_SIZE = '10';
    // How many chunk calls an uninterrupted run makes (the sizer grows the chunks as it goes).
    const counting = dyingDb(ctx.db, Number.POSITIVE_INFINITY, 'before');
    expect(await runAt(counting.db, NOW)).toMatchObject({ status: 'ok' });
    const total = counting.chunks();
    expect(total).toBeGreaterThanOrEqual(9);
    await expectMatchesOracle(ctx.db, ...WINDOW);

    for (let n = 1; n <= total; n++) {
      for (const when of ['before', 'after'] as const) {
        await resetAnalytics(ctx.db);
        const dying = dyingDb(ctx.db, n, when);
        const killed = await runAt(dying.db, NOW);
        expect(dying.died()).toBe(true);
        expect(killed.status).toBe('error');
        // The dead run could not release its lease: a run right after is skipped, one after the lease runs.
        expect(await runAt(ctx.db, NOW)).toMatchObject({ status: 'skipped', reason: 'locked' });
        const later = new Date(NOW.getTime() + LEASE_MS);
        const resumed = await runAt(ctx.db, later);
        expect(resumed).toMatchObject({ status: 'ok', hasMore: false });
        await expectMatchesOracle(ctx.db, ...WINDOW);
      }
    }
  });

  test('kill and resume at every chunk of a budget-limited chain: every prefix of runs resumes exactly', async () => {
    // Each run does one chunk (budgetMs=1, limit=25: 3 chunks a day). Stop the chain after k runs, check the state
    // is exactly "k chunks done", then let a fresh chain finish it.
    for (let k = 1; k <= 21; k += 4) {
      await resetAnalytics(ctx.db);
      for (let i = 0; i < k; i++) await runAt(ctx.db, NOW, { budgetMs: 1, limit: 25 });
      const [progress] = await sql<{ chunks: number; accounts: number }>(
        ctx.db,
        'select sum(chunks)::int as chunks, sum(accounts)::int as accounts from analytics_days',
      );
      expect(progress).toEqual({ chunks: k, accounts: 60 * Math.floor(k / 3) + 25 * (k % 3) });
      await driveUntilDone(ctx.db, NOW, { budgetMs: 1, limit: 25 });
      await expectMatchesOracle(ctx.db, ...WINDOW);
    }
  });

  test('overlap: a run that starts while another holds the lease is skipped; simultaneous runs never double-count', async () => {
    // Hold run A after it took the lease, start B, then let A finish.
    let aStarted!: () => void;
    const started = new Promise<void>((resolve) => {
      aStarted = resolve;
    });
    let releaseA!: () => void;
    const gate = new Promise<void>((resolve) => {
      releaseA = resolve;
    });
    const held: Db = {
      ...ctx.db,
      async rpc<T>(fn: string, args?: Record<string, unknown>): Promise<T[]> {
        const rows = await ctx.db.rpc<T>(fn, args);
        if (fn === 'cron_run_begin') aStarted();
        if (fn === 'analytics_plan_days') await gate;
        return rows;
      },
    };
    const a = runAt(held, NOW);
    await started;
    expect(await runAt(ctx.db, NOW)).toMatchObject({ status: 'skipped', reason: 'locked', claimed: 0 });
    releaseA();
    expect(await a).toMatchObject({ status: 'ok', hasMore: false, claimed: 7 * 60 });
    await expectMatchesOracle(ctx.db, ...WINDOW);

    // Two runs fired at the same instant: one skipped, or (if one finished before the other started) the second
    // finds nothing left. Either way the figures are the oracle's.
    await resetAnalytics(ctx.db);
    const both = await Promise.all([runAt(ctx.db, NOW), runAt(ctx.db, NOW)]);
    expect(both.map((r) => r.status).sort()).toEqual(expect.arrayContaining(['ok']));
    expect(both.every((r) => r.status === 'ok' || r.status === 'skipped')).toBe(true);
    expect(both.reduce((n, r) => n + r.claimed, 0)).toBe(7 * 60);
    await expectMatchesOracle(ctx.db, ...WINDOW);

    // Even without the lease (two callers racing on the same day), the day's row lock makes them take turns.
    await resetAnalytics(ctx.db);
    for (let t = Date.parse(`${WINDOW[0]}T00:00:00Z`); t <= Date.parse(`${WINDOW[1]}T00:00:00Z`); t += DAY_MS) {
      const day = new Date(t).toISOString().slice(0, 10);
      const results = await Promise.all(
        Array.from({ length: 12 }, () => runAnalyticsChunk(ctx.db, { day, limit: 8, now: NOW })),
      );
      expect(results.reduce((n, r) => n + r.accounts, 0)).toBe(60);
      expect(results.filter((r) => r.day_done)).toHaveLength(12 - Math.ceil(60 / 8) + 1);
    }
    await expectMatchesOracle(ctx.db, ...WINDOW);
  });

  test('catch-up: missed nights are computed the next time; today is never finalised', async () => {
    // The night of 03-07 computed 02-28..03-06; the nights of 03-08 and 03-09 were missed.
    const earlier = new Date('2026-03-07T00:05:00Z');
    expect(await runAt(ctx.db, earlier)).toMatchObject({ status: 'ok', remaining: 0, details: { days: 7 } });
    await expectMatchesOracle(ctx.db, '2026-02-28', '2026-03-06');
    const summary = await runAt(ctx.db, NOW);
    expect(summary).toMatchObject({ status: 'ok', claimed: 180, details: { days: 3, daysCompleted: 3 } });
    await expectMatchesOracle(ctx.db, '2026-02-28', '2026-03-09');
    // Days already complete were not recomputed.
    const computed = await sql<{ day: string; completed_at: string }>(
      ctx.db,
      'select day::text, completed_at from analytics_days order by day',
    );
    expect(computed.map((c) => c.day)).toEqual([
      '2026-02-28',
      '2026-03-01',
      '2026-03-02',
      '2026-03-03',
      '2026-03-04',
      '2026-03-05',
      '2026-03-06',
      '2026-03-07',
      '2026-03-08',
      '2026-03-09',
    ]);
    for (const c of computed)
      expect(new Date(c.completed_at).getTime()).toBe((c.day < '2026-03-07' ? earlier : NOW).getTime());

    // Today has activity but is never on the work list, even at 23:59; a direct chunk call for it is refused.
    const lateToday = new Date('2026-03-10T23:59:59Z');
    expect(await runAt(ctx.db, lateToday)).toMatchObject({ status: 'ok', claimed: 0, remaining: 0 });
    const today = await sql(ctx.db, "select 1 from daily_stats where day >= '2026-03-10'");
    expect(today).toEqual([]);
    expect(await sql(ctx.db, "select 1 from analytics_days where day >= '2026-03-10'")).toEqual([]);
    expect(await sql(ctx.db, "select 1 from daily_platform_stats where day >= '2026-03-10'")).toEqual([]);
    await expect(runAnalyticsChunk(ctx.db, { day: '2026-03-10', limit: 10, now: lateToday })).rejects.toThrow(
      /not over yet/,
    );
    // A week later, the skipped days older than the window are not picked up; the last seven are.
    const weekLater = new Date('2026-03-20T00:05:00Z');
    expect(await runAt(ctx.db, weekLater)).toMatchObject({ status: 'ok', details: { days: 7 } });
    expect(await sql(ctx.db, "select 1 from analytics_days where day = '2026-03-12'")).toHaveLength(0);
  });
});
