import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { callRange, RecentRuns } from '../app/admin/recent-runs.tsx';
import { GET as webhooksRoute } from '../app/api/cron/webhooks/route.ts';
import { countingDb } from '../bench/counting-db.ts';
import { dmQueue } from '../jobs/dm-queue.ts';
import { jobs } from '../jobs/index.ts';
import { type RunRow, recentRuns } from '../lib/admin/queries.ts';
import { defineJob, emptyResult, type JobDefinition } from '../lib/cron/job.ts';
import { type RunOptions, runJob } from '../lib/cron/run.ts';
import { setDb } from '../lib/db/index.ts';
import { openPostgres } from '../lib/db/postgres.ts';
import type { Db } from '../lib/db/types.ts';
import { healthReport } from '../lib/health.ts';
import { setProvider } from '../lib/providers/index.ts';
import { schedules } from '../lib/schedules.ts';
import { forEachEngine, sql } from './helpers/db.ts';
import { fakeProvider } from './helpers/fake-provider.ts';
import { insertAccount, insertDms } from './helpers/fixtures.ts';

const NOW = new Date('2026-06-01T12:00:00Z');
const MIN = 60_000;
const at = (minutes: number) => new Date(NOW.getTime() + minutes * MIN);
const SECRET = 'zero-work-test-cron-secret-0123456789';
const WHSEC = `whsec_${Buffer.alloc(24, 7).toString('base64')}`;

/** The jobs that have a probe: every queue job of the registry. */
const probed = Object.values(jobs).filter((j) => j.probe);

interface Row {
  id: string;
  status: string;
  calls: number;
  first_started_at: string | null;
  started_at: string;
  execution_id: string | null;
  claimed: number;
}
const runsOf = (db: Db, job: string) =>
  sql<Row>(
    db,
    `select id, status, calls, first_started_at::text, started_at::text, execution_id, claimed
       from job_runs where job = $1 order by started_at`,
    [job],
  );
const iso = (s: string | null) => (s === null ? null : new Date(s).toISOString());
const run = (job: JobDefinition, db: Db, when: Date, extra: Partial<RunOptions> = {}) =>
  runJob(job, { db, trigger: 'cron', budgetMs: 20_000, now: () => when, ...extra });

forEachEngine('zero-work runs', (ctx) => {
  const reset = () =>
    sql(
      ctx.db,
      'truncate accounts, dm_queue, posts, invitations, sync_jobs, webhook_endpoints, job_runs, cron_state, job_run_occurrences cascade',
    );
  beforeAll(() => setProvider(fakeProvider()));
  afterAll(() => setProvider(undefined));

  test('every job with a probe: a call with nothing due is 2 round trips (cron_run_begin, cron_run_end)', async () => {
    await reset();
    expect(probed.map((j) => j.name).sort()).toEqual([
      'dm-queue',
      'invitations',
      'post-scheduler',
      'sync-jobs',
      'webhooks',
    ]);
    for (const job of probed) {
      const db = countingDb(ctx.db);
      const started = performance.now();
      const summary = await run(job, db, NOW);
      const ms = performance.now() - started;
      expect(summary, job.name).toMatchObject({ status: 'ok', claimed: 0, remaining: 0 });
      expect([...db.stats.keys()], job.name).toEqual(['cron_run_begin', 'cron_run_end']);
      expect(db.roundTrips(), job.name).toBe(2);
      // Not a timing assertion (bench/zero-work.ts measures): the figure is printed for the record.
      console.info(`[zero-work] ${job.name}: ${db.roundTrips()} round trips, ${ms.toFixed(1)} ms`);
    }
  });

  test('through the route handler: 2 round trips, 200 with the summary', async () => {
    await reset();
    const db = countingDb(ctx.db);
    setDb(db);
    process.env.CRON_SECRET = SECRET;
    try {
      const res = await webhooksRoute(
        new Request('http://localhost/api/cron/webhooks', { headers: { authorization: `Bearer ${SECRET}` } }),
      );
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ job: 'webhooks', status: 'ok', claimed: 0 });
      expect(db.roundTrips()).toBe(2);
    } finally {
      setDb(undefined);
      delete process.env.CRON_SECRET;
    }
  });

  test('5 consecutive zero-work calls are one row (count 5, first–last); /admin and health read the latest call', async () => {
    await reset();
    const summaries = [];
    for (let m = 0; m < 5; m++) summaries.push(await run(jobs.webhooks!, ctx.db, at(m)));
    const rows = await runsOf(ctx.db, 'webhooks');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: 'ok', calls: 5 });
    expect(iso(rows[0]!.first_started_at)).toBe(at(0).toISOString());
    expect(iso(rows[0]!.started_at)).toBe(at(4).toISOString());
    // Every call answers with the row that records it.
    expect(summaries.map((s) => s.runId)).toEqual(Array(5).fill(rows[0]!.id));
    expect(summaries.map((s) => s.calls)).toEqual([undefined, 2, 3, 4, 5]);

    const [recent] = await recentRuns(ctx.db, { job: 'webhooks' });
    expect(recent).toMatchObject({ id: rows[0]!.id, calls: 5 });
    expect(iso(recent!.first_started_at ?? null)).toBe(at(0).toISOString());
    expect(iso(recent!.started_at)).toBe(at(4).toISOString());

    const [status] = await ctx.db.rpc<{ last_run_at: string; last_success_at: string }>('cron_job_status', {
      p_jobs: ['webhooks'],
    });
    expect(iso(status!.last_run_at)).toBe(at(4).toISOString());
    expect(iso(status!.last_success_at)).toBe(at(4).toISOString());
    // Health measures overdue from the latest call: fine a minute after it, overdue once calls stop.
    setDb(ctx.db);
    try {
      // vercel.json's own entry: every minute.
      const list = schedules().filter((e) => e.job === 'webhooks');
      expect(list.map((e) => e.schedule)).toEqual(['* * * * *']);
      const fresh = await healthReport(at(5), list);
      expect(fresh.jobs.webhooks).toMatchObject({ overdue: false, lastRunStatus: 'ok' });
      expect(iso(fresh.jobs.webhooks!.lastSuccessAt)).toBe(at(4).toISOString());
      expect(iso(fresh.jobs.webhooks!.lastRunAt)).toBe(at(4).toISOString());
      expect((await healthReport(at(30), list)).jobs.webhooks!.overdue).toBe(true);
    } finally {
      setDb(undefined);
    }
  });

  test('a call with work in between starts a new row', async () => {
    await reset();
    const a = await insertAccount(ctx.db);
    await run(dmQueue, ctx.db, at(0));
    await run(dmQueue, ctx.db, at(1));
    await insertDms(ctx.db, a, 1);
    expect(await run(dmQueue, ctx.db, at(2))).toMatchObject({ status: 'ok', claimed: 1, succeeded: 1 });
    await run(dmQueue, ctx.db, at(3));
    await run(dmQueue, ctx.db, at(4));
    const rows = await runsOf(ctx.db, 'dm-queue');
    expect(rows.map((r) => [r.calls, r.claimed])).toEqual([
      [2, 0],
      [1, 1],
      [2, 0],
    ]);
    expect(iso(rows[2]!.first_started_at)).toBe(at(3).toISOString());
  });

  test('10 zero-work calls at once: none fails, every call is counted', async () => {
    await reset();
    // On the server, ten connections: the calls really overlap (PGlite runs them one after the other).
    const db = ctx.url ? openPostgres(ctx.url, { max: 10 }) : ctx.db;
    try {
      for (const job of [jobs.webhooks!, jobs['sync-jobs']!]) {
        for (let round = 0; round < 5; round++) {
          const answers = await Promise.all(Array.from({ length: 10 }, () => run(job, db, NOW, { trigger: 'manual' })));
          // Before the job lock (cron_job_lock): "deadlock detected" (two finishes each holding the row the other folds into).
          expect(answers.filter((a) => a.status !== 'ok').map((a) => a.error)).toEqual([]);
        }
        const [total] = await sql<{ calls: number; running: number }>(
          ctx.db,
          "select sum(calls)::int as calls, count(*) filter (where status = 'running')::int as running from job_runs where job = $1",
          [job.name],
        );
        expect(total).toEqual({ calls: 50, running: 0 });
      }
    } finally {
      if (db !== ctx.db) await db.close();
    }
  });

  test('a duplicate delivery of an occurrence that was collapsed is still a duplicate', async () => {
    await reset();
    const deliver = (n: number, m: number) =>
      run(jobs.webhooks!, ctx.db, at(m), { executionId: `vercel:UTC:* * * * *@slot-${n}`, scheduledAt: at(n) });
    for (let n = 1; n <= 3; n++) expect(await deliver(n, n)).toMatchObject({ status: 'ok' });
    const [row] = await runsOf(ctx.db, 'webhooks');
    expect(row).toMatchObject({ calls: 3, execution_id: 'vercel:UTC:* * * * *@slot-3' });
    // Slots 1 and 2 were folded into the row (their ids moved to job_run_occurrences), slot 3 is on it.
    for (const n of [1, 2, 3])
      expect(await deliver(n, 3.5)).toMatchObject({ status: 'skipped', reason: 'duplicate_delivery', runId: row!.id });
    expect(await deliver(4, 4)).toMatchObject({ status: 'ok', runId: row!.id, calls: 4 });
    const after = await runsOf(ctx.db, 'webhooks');
    expect(after).toHaveLength(1);
    expect(after[0]).toMatchObject({ calls: 4, execution_id: 'vercel:UTC:* * * * *@slot-4' });
  });

  test('paused: consecutive skipped calls are one row; resumed: a new row', async () => {
    await reset();
    await ctx.db.rpc('cron_set_enabled', { p_job: 'webhooks', p_enabled: false });
    for (let m = 0; m < 4; m++) {
      const db = countingDb(ctx.db);
      expect(await run(jobs.webhooks!, db, at(m))).toMatchObject({ status: 'skipped', reason: 'paused' });
      expect(db.roundTrips()).toBe(1);
    }
    await ctx.db.rpc('cron_set_enabled', { p_job: 'webhooks', p_enabled: true });
    await run(jobs.webhooks!, ctx.db, at(5));
    const rows = await runsOf(ctx.db, 'webhooks');
    expect(rows.map((r) => [r.status, r.calls])).toEqual([
      ['skipped', 4],
      ['ok', 1],
    ]);
  });

  test('single flight: idle calls collapse and release the lease; calls that find it held collapse as locked', async () => {
    await reset();
    const idle = defineJob({
      name: 'idle-single',
      maxDuration: 10,
      defaultLimit: 1,
      singleFlight: true,
      run: async () => ({ ...emptyResult(), zeroWork: true }),
    });
    for (let m = 0; m < 3; m++) await run(idle, ctx.db, at(m));
    const [state] = await sql<{ lock_run_id: string | null }>(
      ctx.db,
      "select lock_run_id from cron_state where job = 'idle-single'",
    );
    expect(state!.lock_run_id).toBeNull();
    await sql(
      ctx.db,
      "update cron_state set lock_until = $1, lock_run_id = gen_random_uuid() where job = 'idle-single'",
      [at(60)],
    );
    for (let m = 3; m < 5; m++)
      expect(await run(idle, ctx.db, at(m))).toMatchObject({ status: 'skipped', reason: 'locked' });
    const rows = await runsOf(ctx.db, 'idle-single');
    expect(rows.map((r) => [r.status, r.calls])).toEqual([
      ['ok', 3],
      ['skipped', 2],
    ]);
  });

  test('dry runs and failed runs keep their own rows', async () => {
    await reset();
    await run(dmQueue, ctx.db, at(0));
    expect(await run(dmQueue, ctx.db, at(1), { dryRun: true, trigger: 'cron' })).toMatchObject({
      status: 'ok',
      details: { dryRun: true },
    });
    await run(dmQueue, ctx.db, at(2));
    const failing = defineJob({
      name: 'idle-then-fail',
      maxDuration: 10,
      defaultLimit: 1,
      run: async (c) => {
        if (c.now().getTime() >= at(2).getTime()) throw new Error('boom');
        return { ...emptyResult(), zeroWork: true };
      },
    });
    await run(failing, ctx.db, at(0));
    await run(failing, ctx.db, at(1));
    expect(await run(failing, ctx.db, at(2))).toMatchObject({ status: 'error' });
    expect((await runsOf(ctx.db, 'dm-queue')).map((r) => r.calls)).toEqual([1, 1, 1]);
    expect((await runsOf(ctx.db, 'idle-then-fail')).map((r) => [r.status, r.calls])).toEqual([
      ['ok', 2],
      ['error', 1],
    ]);
  });
});

/**
 * The probe against the claim: in each state, what the probe says and what the job's claim, reaper and
 * reconciliation actually find. A "no" from the probe must always mean nothing is found (never a missed item).
 */
forEachEngine('probes never miss a due item', (ctx) => {
  const reset = () =>
    sql(ctx.db, 'truncate accounts, dm_queue, posts, invitations, sync_jobs, webhook_endpoints, job_runs cascade');
  const count = async (fn: string, args: Record<string, unknown>) => (await ctx.db.rpc(fn, args)).length;
  const scalar = async (fn: string) => Number((await ctx.db.rpc<Record<string, number>>(fn, { p_now: NOW }))[0]![fn]);
  const lease = { p_limit: 1000, p_lease_seconds: 60, p_now: NOW };

  const found: Record<string, () => Promise<number>> = {
    dm_probe: async () =>
      (await count('claim_due_dms', lease)) +
      (await scalar('reap_expired_dms')) +
      (await count('claim_uncertain_dms', { p_limit: 1000, p_now: NOW })),
    post_probe: async () => (await count('claim_due_posts', lease)) + (await scalar('reap_expired_posts')),
    invitation_probe: async () =>
      (await count('claim_due_invitations', lease)) + (await scalar('reap_expired_invitations')),
    webhook_probe: () => count('claim_webhook_deliveries', lease),
    sync_probe: () => count('claim_sync_jobs', lease),
  };

  const past = at(-10).toISOString();
  const future = at(10).toISOString();
  const dm = (cols: string, values: string) =>
    `insert into dm_queue (account_id, recipient_id, body, ${cols}) select id, 'r', 'b', ${values} from accounts`;
  const endpoint = (enabled = true) =>
    `insert into webhook_endpoints (url, secret, enabled) values ('https://receiver.test/h', '${WHSEC}', ${enabled})`;
  const delivery = (cols: string, values: string) =>
    `insert into webhook_deliveries (endpoint_id, event_type, msg_id, payload, ${cols})
     select id, 'dm.sent', 'msg_' || gen_random_uuid(), '{}', ${values} from webhook_endpoints`;
  const syncJob = (cols: string, values: string) =>
    `insert into sync_jobs (account_id, ${cols}) select id, ${values} from accounts`;

  // [case, probe, account (null: none), SQL that sets the state, what the probe must say]
  const cases: [string, string, Record<string, unknown> | null, string[], boolean][] = [
    ['empty queue', 'dm_probe', {}, [], false],
    ['a due DM', 'dm_probe', {}, [dm('send_at', `'${past}'`)], true],
    ['a DM due later', 'dm_probe', {}, [dm('send_at', `'${future}'`)], false],
    ['a due DM of a paused account', 'dm_probe', { status: 'paused' }, [dm('send_at', `'${past}'`)], false],
    [
      'a due DM of an account resting until later',
      'dm_probe',
      {},
      [dm('send_at', `'${past}'`), `update accounts set dm_resume_at = '${future}'`],
      false,
    ],
    [
      'a due DM of an account whose rest is over',
      'dm_probe',
      {},
      [dm('send_at', `'${past}'`), `update accounts set dm_resume_at = '${past}'`],
      true,
    ],
    [
      'a DM whose lease expired',
      'dm_probe',
      {},
      [dm('status, attempted_at, lease_until', `'sending', '${past}', '${past}'`)],
      true,
    ],
    [
      'a DM with a live lease',
      'dm_probe',
      {},
      [dm('status, attempted_at, lease_until', `'sending', '${past}', '${future}'`)],
      false,
    ],
    [
      'an uncertain DM due for a lookup',
      'dm_probe',
      {},
      [dm('status, attempted_at', `'uncertain', '${at(-3).toISOString()}'`)],
      true,
    ],
    [
      'an uncertain DM sent a minute ago',
      'dm_probe',
      {},
      [dm('status, attempted_at', `'uncertain', '${at(-1).toISOString()}'`)],
      false,
    ],
    [
      'an uncertain DM looked up 10 minutes ago',
      'dm_probe',
      {},
      [dm('status, attempted_at, reconcile_checked_at', `'uncertain', '${at(-90).toISOString()}', '${past}'`)],
      false,
    ],
    [
      'an uncertain DM of an account without a provider id',
      'dm_probe',
      { unipile_account_id: null },
      [dm('status, attempted_at', `'uncertain', '${at(-90).toISOString()}'`)],
      false,
    ],
    [
      'a due post',
      'post_probe',
      {},
      [
        `insert into posts (account_id, content, status, scheduled_for) select id, 'c', 'scheduled', '${past}' from accounts`,
      ],
      true,
    ],
    [
      'a draft post',
      'post_probe',
      {},
      [
        `insert into posts (account_id, content, status, scheduled_for) select id, 'c', 'draft', '${past}' from accounts`,
      ],
      false,
    ],
    [
      'a post scheduled later',
      'post_probe',
      {},
      [
        `insert into posts (account_id, content, status, scheduled_for) select id, 'c', 'scheduled', '${future}' from accounts`,
      ],
      false,
    ],
    [
      'a post whose lease expired',
      'post_probe',
      {},
      [
        `insert into posts (account_id, content, status, scheduled_for, attempted_at, lease_until) select id, 'c', 'publishing', '${past}', '${past}', '${past}' from accounts`,
      ],
      true,
    ],
    [
      'a due invitation',
      'invitation_probe',
      {},
      [`insert into invitations (account_id, recipient_id, send_at) select id, 'ACoA-x', '${past}' from accounts`],
      true,
    ],
    [
      'an invitation due later',
      'invitation_probe',
      {},
      [`insert into invitations (account_id, recipient_id, send_at) select id, 'ACoA-x', '${future}' from accounts`],
      false,
    ],
    [
      'an invitation whose lease expired',
      'invitation_probe',
      {},
      [
        `insert into invitations (account_id, recipient_id, send_at, status, attempted_at, lease_until) select id, 'ACoA-x', '${past}', 'sending', '${past}', '${past}' from accounts`,
      ],
      true,
    ],
    ['a pending delivery', 'webhook_probe', null, [endpoint(), delivery('status', `'pending'`)], true],
    [
      'a delivery backing off',
      'webhook_probe',
      null,
      [endpoint(), delivery('status, next_attempt_at', `'pending', '${future}'`)],
      false,
    ],
    [
      'a delivery whose backoff is over',
      'webhook_probe',
      null,
      [endpoint(), delivery('status, next_attempt_at', `'pending', '${past}'`)],
      true,
    ],
    [
      'a pending delivery of a disabled endpoint',
      'webhook_probe',
      null,
      [endpoint(false), delivery('status', `'pending'`)],
      false,
    ],
    [
      'a delivery whose lease expired',
      'webhook_probe',
      null,
      [endpoint(), delivery('status, lease_until', `'delivering', '${past}'`)],
      true,
    ],
    [
      'a delivery with a live lease',
      'webhook_probe',
      null,
      [endpoint(), delivery('status, lease_until', `'delivering', '${future}'`)],
      false,
    ],
    ['a delivered message', 'webhook_probe', null, [endpoint(), delivery('status', `'delivered'`)], false],
    ['a queued sync job', 'sync_probe', {}, [syncJob('status', `'queued'`)], true],
    [
      'a running sync job with a live lease',
      'sync_probe',
      {},
      [syncJob('status, lease_until', `'running', '${future}'`)],
      false,
    ],
    [
      'a running sync job whose lease expired',
      'sync_probe',
      {},
      [syncJob('status, lease_until', `'running', '${past}'`)],
      true,
    ],
    ['a sync job backing off', 'sync_probe', {}, [syncJob('status, next_attempt_at', `'running', '${future}'`)], false],
    [
      'a sync job of a disconnected account',
      'sync_probe',
      { status: 'disconnected' },
      [syncJob('status', `'queued'`)],
      false,
    ],
    ['a completed sync job', 'sync_probe', {}, [syncJob('status, finished_at', `'completed', '${past}'`)], false],
  ];

  test.each(cases)('%s (%s)', async (_case, probe, account, setup, expected) => {
    await reset();
    if (account) await insertAccount(ctx.db, account);
    for (const statement of setup) await sql(ctx.db, statement);
    const [row] = await ctx.db.rpc<Record<string, boolean>>(probe, { p_now: NOW });
    const says = row![probe];
    const actual = await found[probe]!();
    expect(says).toBe(expected);
    // The rule that matters: "nothing due" is never said while the claim, the reaper or the lookup finds something.
    if (!says) expect(actual).toBe(0);
    else expect(actual).toBeGreaterThan(0);
  });

  test('cron_probe refuses an unknown probe instead of answering "nothing due"', async () => {
    await expect(ctx.db.rpc('cron_probe', { p_probe: 'no_such_probe', p_now: NOW })).rejects.toThrow(
      /no probe function public\.no_such_probe/,
    );
  });
});

describe('/admin recent runs', () => {
  const base: RunRow = {
    id: '00000000-0000-4000-8000-000000000001',
    job: 'webhooks',
    trigger: 'cron',
    status: 'ok',
    started_at: at(4).toISOString(),
    finished_at: at(4).toISOString(),
    duration_ms: 3,
    claimed: 0,
    succeeded: 0,
    failed: 0,
    retried: 0,
    uncertain: 0,
    remaining: 0,
    depth: 0,
    reason: null,
    error: null,
    calls: 1,
    first_started_at: null,
  };
  test('a collapsed row shows ×N and its first–last calls; a single call shows neither', () => {
    const html = renderToStaticMarkup(
      createElement(RecentRuns, {
        runs: [
          { ...base, calls: 5, first_started_at: at(0).toISOString() },
          { ...base, id: `${base.id.slice(0, -1)}2` },
        ],
        jobs: ['webhooks'],
        now: at(5),
      }),
    );
    expect(html).toContain('×5, 2026-06-01 12:00–12:04 UTC');
    expect(html.match(/data-calls=/g)).toHaveLength(1);
    expect(callRange(3, '2026-06-01T23:58:00Z', '2026-06-02T00:01:00Z')).toBe(
      '×3, 2026-06-01 23:58–2026-06-02 00:01 UTC',
    );
  });
});

describe('job definitions', () => {
  test('a probe must name a SQL function', () => {
    expect(() =>
      defineJob({
        name: 'x',
        maxDuration: 10,
        defaultLimit: 1,
        probe: 'drop table x;',
        run: async () => emptyResult(),
      }),
    ).toThrow(/probe must name a SQL function/);
  });
});
