import { afterAll, afterEach, beforeAll, beforeEach, expect, test } from 'vitest';
import { GET } from '../app/api/cron/retention/route.ts';
import { retention } from '../jobs/retention.ts';
import { defineJob, emptyResult } from '../lib/cron/job.ts';
import { runJob } from '../lib/cron/run.ts';
import { setDb } from '../lib/db/index.ts';
import type { Db } from '../lib/db/types.ts';
import { retentionOverview } from '../lib/retention/queries.ts';
import { retentionDays } from '../lib/retention/settings.ts';
import { forEachEngine, sql } from './helpers/db.ts';
import { insertAccount, insertDms } from './helpers/fixtures.ts';

const NOW = new Date('2026-03-10T03:00:00Z');
const DAY = 86_400_000;
const ago = (days: number, from = NOW) => new Date(from.getTime() - days * DAY);
const SECRET = 'retention-test-cron-secret';
const ENV_VARS = [
  'RETENTION_RUNS_DAYS',
  'RETENTION_SKIPPED_RUNS_DAYS',
  'RETENTION_WEBHOOKS_DAYS',
  'RETENTION_SYNC_JOBS_DAYS',
];

async function insertRun(db: Db, job: string, status: string, startedAt: Date): Promise<string> {
  const [row] = await sql<{ id: string }>(
    db,
    `insert into job_runs (job, trigger, status, started_at, finished_at)
     values ($1, 'cron', $2, $3, case when $2 = 'running' then null else $3::timestamptz end) returning id`,
    [job, status, startedAt.toISOString()],
  );
  return row!.id;
}

const runIds = async (db: Db, job: string) =>
  (
    await sql<{ status: string; day: number }>(
      db,
      `select status, round(extract(epoch from ($2::timestamptz - started_at)) / 86400)::int as day
         from job_runs where job = $1 order by started_at`,
      [job, NOW.toISOString()],
    )
  ).map((r) => `${r.status}@-${r.day}d`);

const count = async (db: Db, text: string, params: unknown[] = []) =>
  Number((await sql<{ n: number }>(db, `select count(*)::int as n from ${text}`, params))[0]!.n);

const runRetention = (db: Db, options: { limit?: number; budgetMs?: number; now?: () => Date } = {}) =>
  runJob(retention, { db, trigger: 'manual', budgetMs: options.budgetMs ?? 55_000, now: () => NOW, ...options });

forEachEngine('retention', (ctx) => {
  let endpoint: string;
  let account: string;

  beforeAll(() => {
    for (const v of ENV_VARS) delete process.env[v];
  });
  beforeEach(async () => {
    await sql(ctx.db, 'truncate accounts, dm_queue, sync_jobs, webhook_endpoints, job_runs, cron_state cascade');
    account = await insertAccount(ctx.db);
    [{ id: endpoint }] = (await sql<{ id: string }>(
      ctx.db,
      `insert into webhook_endpoints (url, secret) values ('https://hooks.example.com/h', 'whsec_' || repeat('A', 32))
       returning id`,
    )) as [{ id: string }];
  });
  afterEach(() => {
    for (const v of ENV_VARS) delete process.env[v];
    delete process.env.CRON_SECRET;
    setDb(undefined);
  });

  test('old rows are pruned per table; failed, uncertain, running, pending and each job’s latest rows are kept', async () => {
    const { db } = ctx;
    // Job a: two old successes, an old error, a run stuck 'running' for 50 days, a young latest success.
    await insertRun(db, 'a', 'running', ago(50));
    await insertRun(db, 'a', 'ok', ago(40));
    await insertRun(db, 'a', 'error', ago(45));
    await insertRun(db, 'a', 'partial', ago(35));
    await insertRun(db, 'a', 'skipped', ago(3));
    await insertRun(db, 'a', 'skipped', ago(1));
    await insertRun(db, 'a', 'ok', ago(0.25));
    // Job b ran last 31 days ago (an error) and last succeeded 60 days ago: both stay, the older success goes.
    await insertRun(db, 'b', 'partial', ago(70));
    await insertRun(db, 'b', 'ok', ago(60));
    await insertRun(db, 'b', 'error', ago(31));

    const wd = (status: string, created: number, delivered: number | null) =>
      sql(
        db,
        `insert into webhook_deliveries (endpoint_id, event_type, msg_id, payload, status, created_at, delivered_at, failed_at)
         values ($1, 'dm.sent', 'msg_' || gen_random_uuid(), '{}', $2, $3, $4, case when $2 = 'failed' then $3::timestamptz end)`,
        [endpoint, status, ago(created).toISOString(), delivered === null ? null : ago(delivered).toISOString()],
      );
    await wd('delivered', 21, 20); // pruned (14 days)
    await wd('delivered', 6, 5);
    await wd('failed', 100, null);
    await wd('pending', 100, null);
    await wd('delivering', 100, null);

    const sj = (status: string, finished: number | null, created = 100) =>
      sql(db, `insert into sync_jobs (account_id, status, created_at, finished_at) values ($1, $2, $3, $4)`, [
        account,
        status,
        ago(created).toISOString(),
        finished === null ? null : ago(finished).toISOString(),
      ]);
    await sj('completed', 40); // pruned (30 days)
    await sj('completed', 10);
    await sj('failed', 100);
    // Old DMs of every kind: the queues other than webhooks and sync jobs are not retention's.
    await insertDms(db, account, 2, { status: 'sent', sent_at: ago(200), attempted_at: ago(200) });
    await insertDms(db, account, 1, { status: 'uncertain', attempted_at: ago(200) });

    const summary = await runRetention(db);
    expect(summary).toMatchObject({ job: 'retention', status: 'ok', claimed: 7, succeeded: 7, hasMore: false });
    // a: skipped@-3d; ok@-40d, error@-45d, partial@-35d; b: partial@-70d.
    expect(summary.details).toMatchObject({ skipped_runs: 1, runs: 4, webhook_deliveries: 1, sync_jobs: 1 });

    expect(await runIds(db, 'a')).toEqual(['running@-50d', 'skipped@-1d', 'ok@-0d']);
    expect(await runIds(db, 'b')).toEqual(['ok@-60d', 'error@-31d']);
    expect(await count(db, 'webhook_deliveries where status = $1', ['delivered'])).toBe(1);
    expect(await count(db, "webhook_deliveries where status in ('failed', 'pending', 'delivering')")).toBe(3);
    expect(
      await sql(db, 'select status, (finished_at > $1) as young from sync_jobs order by status', [
        ago(30).toISOString(),
      ]),
    ).toEqual([
      { status: 'completed', young: true },
      { status: 'failed', young: false },
    ]);
    expect(await count(db, 'dm_queue')).toBe(3);

    // Health and /admin still see each job's last run and last success.
    const status = await db.rpc<{ job: string; last_run_status: string; last_success_at: string }>('cron_job_status', {
      p_jobs: ['a', 'b'],
    });
    expect(status.map((s) => [s.job, s.last_run_status, new Date(s.last_success_at).getTime()])).toEqual([
      ['a', 'ok', ago(0.25).getTime()],
      ['b', 'error', ago(60).getTime()],
    ]);
    // A second run finds nothing more (its own run row is young).
    expect(await runRetention(db)).toMatchObject({ status: 'ok', claimed: 0 });
  });

  test("a paused job's skipped rows go after RETENTION_SKIPPED_RUNS_DAYS (2), long before its successes", async () => {
    const { db } = ctx;
    const paused = defineJob({ name: 'paused-demo', maxDuration: 10, defaultLimit: 1, run: async () => emptyResult() });
    await runJob(paused, { db, trigger: 'cron', budgetMs: 5000, now: () => ago(20) }); // the last success, before pausing
    await db.rpc('cron_set_enabled', { p_job: 'paused-demo', p_enabled: false });
    // One call an hour for six days while paused, from two clocks taking turns: each writes a 'skipped' row
    // (consecutive skipped calls from one clock would share one row: tests/zero-work.test.ts).
    for (let h = 6 * 24; h >= 1; h--) {
      const at = new Date(NOW.getTime() - h * 3_600_000);
      const trigger = h % 2 === 0 ? 'cron' : 'external';
      expect(await runJob(paused, { db, trigger, budgetMs: 5000, now: () => at })).toMatchObject({
        status: 'skipped',
        reason: 'paused',
      });
    }
    expect(await count(db, "job_runs where job = 'paused-demo' and status = 'skipped'")).toBe(144);

    const first = await runRetention(db);
    expect(first.details).toMatchObject({ skipped_runs: 96, runs: 0 });
    // 48 hourly rows of the last two days stay, and so does the success from 20 days ago.
    expect(await count(db, "job_runs where job = 'paused-demo' and status = 'skipped'")).toBe(48);
    expect(await count(db, "job_runs where job = 'paused-demo' and status = 'ok'")).toBe(1);

    // A longer retention chosen by env keeps more; a shorter one prunes down to the latest row, which always stays.
    process.env.RETENTION_SKIPPED_RUNS_DAYS = '1';
    await runRetention(db, { now: () => new Date(NOW.getTime() + 10 * DAY) });
    expect(await runIds(db, 'paused-demo')).toEqual(['ok@-20d', 'skipped@-0d']);
  });

  test('bounded batches: ?limit prunes part and reports partial; the next run finishes', async () => {
    const { db } = ctx;
    await sql(
      db,
      `insert into job_runs (job, trigger, status, started_at, finished_at)
       select 'busy', 'cron', 'skipped', $1::timestamptz - g * interval '1 minute', $1::timestamptz - g * interval '1 minute'
         from generate_series(1, 2500) g`,
      [ago(3).toISOString()],
    );
    const partial = await runRetention(db, { limit: 3 });
    expect(partial).toMatchObject({ status: 'partial', claimed: 3, hasMore: true, cursor: { kind: 'skipped_runs' } });
    // Oldest first: the three oldest went.
    expect(await count(db, 'job_runs where job = $1', ['busy'])).toBe(2497);
    const [oldest] = await sql<{ m: string }>(db, "select min(started_at)::text as m from job_runs where job = 'busy'");
    const [expected] = await sql<{ m: string }>(db, "select ($1::timestamptz - interval '2497 minutes')::text as m", [
      ago(3).toISOString(),
    ]);
    expect(oldest).toEqual(expected);

    const done = await runRetention(db);
    expect(done).toMatchObject({ status: 'ok', claimed: 2496, hasMore: false });
    expect(await runIds(db, 'busy')).toEqual(['skipped@-3d']); // the latest run of the job stays
  });

  test('a 1 ms budget still deletes one bounded batch, stops partial, and the next runs finish', async () => {
    const { db } = ctx;
    const now = new Date();
    await sql(
      db,
      `insert into job_runs (job, trigger, status, started_at, finished_at)
       select 'busy', 'cron', 'ok', $1::timestamptz - g * interval '1 second', $1::timestamptz - g * interval '1 second'
         from generate_series(1, 2500) g`,
      [ago(31, now).toISOString()],
    );
    // The real clock: the budget is spent by the time the first delete returns.
    const first = await runJob(retention, { db, trigger: 'manual', budgetMs: 1 });
    expect(first).toMatchObject({ status: 'partial', claimed: 1000, hasMore: true, cursor: { kind: 'runs' } });
    let runs = 1;
    while ((await count(db, 'job_runs where job = $1', ['busy'])) > 1 && runs < 10) {
      await runJob(retention, { db, trigger: 'continuation', budgetMs: 1 });
      runs++;
    }
    expect(await count(db, 'job_runs where job = $1', ['busy'])).toBe(1);
    expect(runs).toBeLessThanOrEqual(3);
  });

  test('an invalid RETENTION_* value ends the run in error with the variable named, and deletes nothing', async () => {
    const { db } = ctx;
    await insertRun(db, 'a', 'ok', ago(100));
    await insertRun(db, 'a', 'ok', ago(99));
    for (const value of ['0', '-3', '2.5', 'thirty', '99999']) {
      process.env.RETENTION_RUNS_DAYS = value;
      const summary = await runRetention(db);
      expect(summary.status).toBe('error');
      expect(summary.error).toContain(
        `RETENTION_RUNS_DAYS must be a whole number of days from 1 to 36500, got "${value}"`,
      );
    }
    expect(await count(db, "job_runs where job = 'a'")).toBe(2);
  });

  test('retention_prune refuses an unknown kind, a retention under a day and a limit under 1', async () => {
    const prune = (args: Record<string, unknown>) =>
      ctx.db.rpc('retention_prune', { p_kind: 'runs', p_keep_days: 30, p_limit: 10, p_now: NOW, ...args });
    await expect(prune({ p_kind: 'dm_queue' })).rejects.toThrow(/unknown kind 'dm_queue'/);
    await expect(prune({ p_keep_days: 0 })).rejects.toThrow(/runs must be kept 1..36500 days, got 0/);
    await expect(prune({ p_limit: 0 })).rejects.toThrow(/limit must be at least 1, got 0/);
    expect(await prune({})).toEqual([{ retention_prune: 0 }]);
  });

  test('retention_overview: per kind, the rows kept, the oldest kept and the retention in days', async () => {
    const { db } = ctx;
    await insertRun(db, 'a', 'ok', ago(40));
    await insertRun(db, 'a', 'ok', ago(1));
    await insertRun(db, 'a', 'skipped', ago(0.25));
    const overview = await retentionOverview(db, retentionDays({}), NOW);
    expect(overview).toEqual([
      {
        kind: 'skipped_runs',
        table: 'job_runs',
        keepDays: 2,
        kept: 1,
        oldestAt: ago(0.25).toISOString(),
        pastRetention: 0,
      },
      { kind: 'runs', table: 'job_runs', keepDays: 30, kept: 2, oldestAt: ago(40).toISOString(), pastRetention: 1 },
      {
        kind: 'webhook_deliveries',
        table: 'webhook_deliveries',
        keepDays: 14,
        kept: 0,
        oldestAt: null,
        pastRetention: 0,
      },
      { kind: 'sync_jobs', table: 'sync_jobs', keepDays: 30, kept: 0, oldestAt: null, pastRetention: 0 },
    ]);
    // A dry run reports the same and deletes nothing.
    const dry = await runJob(retention, { db, trigger: 'manual', budgetMs: 5000, now: () => NOW, dryRun: true });
    expect(dry).toMatchObject({ status: 'ok', remaining: 1, details: { dryRun: true, runs: 1 } });
    expect(await count(db, 'job_runs where job = $1', ['a'])).toBe(3);
  });

  test('the route: bearer required; with it, GET runs retention and answers the summary', async () => {
    const { db } = ctx;
    setDb(db);
    process.env.CRON_SECRET = SECRET;
    await insertRun(db, 'a', 'ok', ago(400, new Date()));
    await insertRun(db, 'a', 'ok', ago(1, new Date()));
    const url = 'http://localhost/api/cron/retention';
    const refused = await GET(new Request(url));
    expect(refused.status).toBe(401);
    expect(await count(db, "job_runs where job = 'a'")).toBe(2);

    const res = await GET(new Request(url, { headers: { authorization: `Bearer ${SECRET}` } }));
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({ job: 'retention', trigger: 'manual', status: 'ok', claimed: 1, succeeded: 1 });
    expect(body.budgetMs).toBe(55_000);
    expect(await count(db, "job_runs where job = 'a'")).toBe(1);
    expect(await count(db, "job_runs where job = 'retention' and status = 'ok'")).toBe(1);
  });
});

afterAll(() => {
  for (const v of ENV_VARS) delete process.env[v];
});
