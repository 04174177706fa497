import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test, vi } from 'vitest';
import { GET as dmRoute } from '../app/api/cron/dm-queue/route.ts';
import { adminJobs } from '../lib/admin/jobs.ts';
import { defineJob, emptyResult } from '../lib/cron/job.ts';
import { cloudSchedulerOccurrence, deliveryOf, vercelOccurrence } from '../lib/cron/occurrence.ts';
import { runJob } from '../lib/cron/run.ts';
import { setDb } from '../lib/db/index.ts';
import { isOverdue } from '../lib/health.ts';
import { setProvider } from '../lib/providers/index.ts';
import {
  inZone,
  isValidTimezone,
  nextFireAfter,
  parseCron,
  readSchedules,
  type Schedule,
  type VercelSchedules,
} from '../lib/schedules.ts';
import { forEachEngine, sql } from './helpers/db.ts';
import { fakeProvider } from './helpers/fake-provider.ts';
import { insertAccount, insertDms } from './helpers/fixtures.ts';

const MIN = 60_000;
const at = (iso: string) => new Date(iso);
const iso = (d: Date | null) => d?.toISOString() ?? null;

/** Both keys, as a project might have them mid-migration. */
const BOTH: VercelSchedules = {
  crons: [{ path: '/api/cron/dm-queue', schedule: '*/15 * * * *' }],
  schedules: {
    'morning-report': { schedule: '0 9 * * *', timezone: 'Europe/Berlin', jitter: 5, path: '/api/cron/analytics' },
    'post-scheduler': { schedule: '*/15 * * * *', path: '/api/cron/post-scheduler' },
    cleanup: { schedule: '0 * * * *', function: 'api/cleanup' },
    digests: { schedule: '0 8 * * *', topic: 'digests' },
  },
};

describe('readSchedules: both keys, one list', () => {
  test('crons are UTC without jitter; path schedules keep their zone and jitter (default 1 minute)', () => {
    const { schedules } = readSchedules(BOTH);
    expect(schedules).toEqual([
      {
        job: 'dm-queue',
        path: '/api/cron/dm-queue',
        schedule: '*/15 * * * *',
        timezone: 'UTC',
        jitterMinutes: 0,
        source: 'crons',
        name: null,
      },
      {
        job: 'analytics',
        path: '/api/cron/analytics',
        schedule: '0 9 * * *',
        timezone: 'Europe/Berlin',
        jitterMinutes: 5,
        source: 'schedules',
        name: 'morning-report',
      },
      {
        job: 'post-scheduler',
        path: '/api/cron/post-scheduler',
        schedule: '*/15 * * * *',
        timezone: 'UTC',
        jitterMinutes: 1,
        source: 'schedules',
        name: 'post-scheduler',
      },
    ]);
  });

  test('function and topic targets are set apart with a message that says what to do', () => {
    const { unsupported } = readSchedules(BOTH);
    expect(unsupported.map((u) => [u.name, u.target])).toEqual([
      ['cleanup', 'function'],
      ['digests', 'topic'],
    ]);
    expect(unsupported[0]!.message).toMatch(/targets the function "api\/cleanup".*"path": "\/api\/cron\/<job>"/);
    expect(unsupported[1]!.message).toMatch(/queue topic "digests".*not Vercel Queues/);
  });

  test('a path that is not /api/cron/<job> is an error, for either key', () => {
    expect(() => readSchedules({ crons: [{ path: '/api/other', schedule: '* * * * *' }] })).toThrow(/cron path/);
    expect(() => readSchedules({ schedules: { x: { schedule: '* * * * *', path: '/x' } } })).toThrow(/schedules\.x/);
  });

  test.each([
    ['Europe/Berlin', true],
    ['America/New_York', true],
    ['UTC', true],
    ['europe/berlin', false],
    ['Mars/Olympus', false],
    ['', false],
    ['+01:00', false],
  ])('time zone %j valid: %s', (zone, valid) => {
    expect(isValidTimezone(zone)).toBe(valid);
    if (!valid) expect(() => parseCron('0 9 * * *', zone)).toThrow(/time zone/);
  });
});

describe('time zones across a DST change: 0 9 * * * in Europe/Berlin', () => {
  const BERLIN = 'Europe/Berlin';
  test.each([
    // Summer time starts on Sunday 2026-03-29 and ends on Sunday 2026-10-25.
    ['2026-03-27T12:00:00Z', '2026-03-28T08:00:00.000Z'],
    ['2026-03-28T12:00:00Z', '2026-03-29T07:00:00.000Z'],
    ['2026-03-29T12:00:00Z', '2026-03-30T07:00:00.000Z'],
    ['2026-10-23T12:00:00Z', '2026-10-24T07:00:00.000Z'],
    ['2026-10-24T12:00:00Z', '2026-10-25T08:00:00.000Z'],
    ['2026-10-25T12:00:00Z', '2026-10-26T08:00:00.000Z'],
  ])('after %s the next fire is %s', (from, expected) => {
    const next = nextFireAfter('0 9 * * *', at(from), BERLIN);
    expect(iso(next)).toBe(expected);
    expect(inZone(next!, BERLIN)).toMatch(/ 09:00 Europe\/Berlin$/);
  });

  // Grace 10 minutes + jitter 5 = 15 minutes after the fire.
  const GRACE = 15 * MIN;
  const ranYesterday = (lastSuccess: string) => ({ enabled: true, last_success_at: lastSuccess, installed_at: null });
  test.each([
    ['first summer day, 07:14 UTC: within the grace', '2026-03-29T07:14:00Z', '2026-03-28T08:00:30Z', false],
    ['first summer day, 07:16 UTC: overdue', '2026-03-29T07:16:00Z', '2026-03-28T08:00:30Z', true],
    ['first summer day, ran at 07:02 UTC', '2026-03-29T07:30:00Z', '2026-03-29T07:02:00Z', false],
    ['last summer day, 07:16 UTC: overdue', '2026-10-24T07:16:00Z', '2026-10-23T07:00:30Z', true],
    [
      'first winter day, 07:16 UTC: not yet due (fires 08:00 UTC)',
      '2026-10-25T07:16:00Z',
      '2026-10-24T07:00:30Z',
      false,
    ],
    ['first winter day, 08:14 UTC: within the grace', '2026-10-25T08:14:00Z', '2026-10-24T07:00:30Z', false],
    ['first winter day, 08:16 UTC: overdue', '2026-10-25T08:16:00Z', '2026-10-24T07:00:30Z', true],
  ])('%s', (_case, now, lastSuccess, overdue) => {
    expect(isOverdue(ranYesterday(lastSuccess), '0 9 * * *', at(now), GRACE, BERLIN)).toBe(overdue);
  });
});

describe('adminJobs: both keys, each in its zone', () => {
  const list = readSchedules(BOTH).schedules;
  const registry = {
    'dm-queue': defineJob({ name: 'dm-queue', maxDuration: 60, defaultLimit: 1, run: async () => emptyResult() }),
    analytics: defineJob({ name: 'analytics', maxDuration: 60, defaultLimit: 1, run: async () => emptyResult() }),
    lonely: defineJob({ name: 'lonely', maxDuration: 60, defaultLimit: 1, run: async () => emptyResult() }),
  };
  test('schedule, zone and the next run as the zone reads it', () => {
    const rows = adminJobs(registry, at('2026-03-28T12:00:00Z'), list);
    expect(rows.map((r) => [r.job, r.source, r.timezone, r.description, r.nextRunAt, r.nextRunLocal])).toEqual([
      ['dm-queue', 'crons', 'UTC', 'every 15 minutes', '2026-03-28T12:15:00.000Z', '2026-03-28 12:15 UTC'],
      [
        'analytics',
        'schedules',
        'Europe/Berlin',
        'every day at 09:00 Europe/Berlin',
        '2026-03-29T07:00:00.000Z',
        '2026-03-29 09:00 Europe/Berlin',
      ],
      ['post-scheduler', 'schedules', 'UTC', 'every 15 minutes', '2026-03-28T12:15:00.000Z', '2026-03-28 12:15 UTC'],
      ['lonely', null, null, 'no schedule in vercel.json', null, null],
    ]);
  });
});

describe('deliveryOf: who called, and which occurrence', () => {
  const LIST: Schedule[] = readSchedules(BOTH).schedules;
  const req = (headers: Record<string, string>) => new Request('http://localhost/api/cron/x', { headers });
  const vercel = (schedule: string) => ({ 'user-agent': 'vercel-cron/1.0', 'x-vercel-cron-schedule': schedule });

  test.each([
    ['on the slot', '2026-03-10T12:15:00.200Z', '2026-03-10T12:15:00.000Z'],
    ['7 minutes late (jitter)', '2026-03-10T12:22:00Z', '2026-03-10T12:15:00.000Z'],
    ['just before the slot by our clock (skew)', '2026-03-10T12:14:55Z', '2026-03-10T12:15:00.000Z'],
    ['just before the next slot', '2026-03-10T12:29:49Z', '2026-03-10T12:15:00.000Z'],
  ])('a Vercel delivery %s counts for its slot', (_case, now, slot) => {
    const o = vercelOccurrence('dm-queue', '*/15 * * * *', at(now), LIST);
    expect(iso(o?.scheduledAt ?? null)).toBe(slot);
    expect(o?.executionId).toBe(`vercel:UTC:*/15 * * * *@${slot}`);
  });

  test('a Schedules delivery is placed in its own zone', () => {
    const o = vercelOccurrence('analytics', '0 9 * * *', at('2026-03-29T07:03:00Z'), LIST);
    expect(o).toEqual({
      executionId: 'vercel:Europe/Berlin:0 9 * * *@2026-03-29T07:00:00.000Z',
      scheduledAt: at('2026-03-29T07:00:00Z'),
    });
  });

  test.each([
    ['no header', null],
    ["another job's expression", '0 3 * * *'],
    ['garbage', 'not a cron'],
    ['an over-long header', `${'* '.repeat(60)}*`],
  ])('no occurrence for %s (the call still runs, undeduplicated)', (_case, header) => {
    expect(vercelOccurrence('dm-queue', header, at('2026-03-10T12:20:00Z'), LIST)).toBeNull();
  });

  test('Cloud Scheduler: the schedule time names the occurrence; a forced run ahead of time does not', () => {
    const now = at('2026-03-10T12:01:00Z');
    expect(cloudSchedulerOccurrence('dm', '2026-03-10T12:00:00Z', now)).toEqual({
      executionId: 'cloud-scheduler:dm@2026-03-10T12:00:00.000Z',
      scheduledAt: at('2026-03-10T12:00:00Z'),
    });
    expect(cloudSchedulerOccurrence('dm', '2026-03-10T05:00:00-07:00', now)?.executionId).toBe(
      'cloud-scheduler:dm@2026-03-10T12:00:00.000Z',
    );
    expect(cloudSchedulerOccurrence('dm', '2026-03-10T12:15:00Z', now)).toBeNull();
    expect(cloudSchedulerOccurrence('dm', 'yesterday', now)).toBeNull();
    expect(cloudSchedulerOccurrence(null, '2026-03-10T12:00:00Z', now)).toBeNull();
  });

  test.each([
    ['Vercel (either key)', { 'user-agent': 'vercel-cron/1.0' }, 0, 'cron'],
    [
      'Cloud Scheduler',
      { 'x-cloudscheduler-jobname': 'dm', 'x-cloudscheduler-scheduletime': '2026-01-01T00:00:00Z' },
      0,
      'external',
    ],
    ['GitHub Actions', { 'x-github-run-id': '123456789' }, 0, 'external'],
    ['Supabase Cron (pg_net)', { 'user-agent': 'pg_net/0.19.5' }, 0, 'external'],
    ['curl', { 'user-agent': 'curl/8.5.0' }, 0, 'manual'],
    ['a non-numeric GitHub run id', { 'x-github-run-id': 'abc' }, 0, 'manual'],
    ['a continuation', { 'user-agent': 'vercel-cron/1.0' }, 1, 'continuation'],
  ])('%s → %s', (_case, headers, depth, trigger) => {
    expect(deliveryOf(req(headers as Record<string, string>), 'dm-queue', depth).trigger).toBe(trigger);
  });

  test('manual calls and continuations never carry an occurrence', () => {
    const now = at('2026-03-10T12:20:00Z');
    expect(deliveryOf(req({ 'user-agent': 'curl/8' }), 'dm-queue', 0, now)).toEqual({
      trigger: 'manual',
      executionId: null,
      scheduledAt: null,
    });
    expect(deliveryOf(req(vercel('*/15 * * * *')), 'dm-queue', 2, now).executionId).toBeNull();
  });
});

forEachEngine('one record per occurrence (runJob)', (ctx) => {
  let runs = 0;
  const job = defineJob({
    name: 'occurrence-probe',
    maxDuration: 60,
    defaultLimit: 1,
    async run() {
      runs++;
      await new Promise((r) => setTimeout(r, 50)); // long enough for every delivery to arrive while it runs
      return { ...emptyResult(), succeeded: 1 };
    },
  });
  const deliver = (executionId: string | null, trigger: 'cron' | 'manual' = 'cron') =>
    runJob(job, { db: ctx.db, trigger, budgetMs: 10_000, executionId, scheduledAt: at('2026-03-10T12:00:00Z') });
  const rows = () =>
    sql<{ id: string; status: string; execution_id: string | null; scheduled_at: Date | null }>(
      ctx.db,
      "select id, status, execution_id, scheduled_at from job_runs where job = 'occurrence-probe' order by started_at",
    );

  beforeEach(async () => {
    runs = 0;
    await sql(ctx.db, 'truncate job_runs, cron_state');
  });

  test('10 identical deliveries at once: one run does the work, nine answer duplicate_delivery with its id', async () => {
    const answers = await Promise.all(Array.from({ length: 10 }, () => deliver('vercel:UTC:0 * * * *@t1')));
    expect(runs).toBe(1);
    const worked = answers.filter((a) => a.status === 'ok');
    expect(worked).toHaveLength(1);
    const dupes = answers.filter((a) => a.reason === 'duplicate_delivery');
    expect(dupes).toHaveLength(9);
    for (const d of dupes) expect(d).toMatchObject({ status: 'skipped', runId: worked[0]!.runId, claimed: 0 });
    const stored = await rows();
    expect(stored).toHaveLength(1); // the duplicates wrote nothing
    expect(stored[0]).toMatchObject({ id: worked[0]!.runId, status: 'ok', execution_id: 'vercel:UTC:0 * * * *@t1' });
    expect(new Date(stored[0]!.scheduled_at!).toISOString()).toBe('2026-03-10T12:00:00.000Z');
  });

  test('a delivery after the run ended is a duplicate too', async () => {
    const first = await deliver('occ-a');
    const again = await deliver('occ-a');
    expect(again).toMatchObject({ status: 'skipped', reason: 'duplicate_delivery', runId: first.runId });
    expect(runs).toBe(1);
  });

  test('two occurrences: two runs', async () => {
    await Promise.all([deliver('occ-1'), deliver('occ-2'), deliver('occ-1'), deliver('occ-2')]);
    expect(runs).toBe(2);
    expect((await rows()).map((r) => r.execution_id).sort()).toEqual(['occ-1', 'occ-2']);
  });

  test('manual calls are never deduplicated', async () => {
    await Promise.all([deliver(null, 'manual'), deliver(null, 'manual'), deliver(null, 'manual')]);
    expect(runs).toBe(3);
  });

  test('a delivery that failed to start (paused) does not hold the occurrence: the next one runs', async () => {
    await sql(ctx.db, "insert into cron_state (job, enabled) values ('occurrence-probe', false)");
    const paused = await deliver('occ-p');
    expect(paused).toMatchObject({ status: 'skipped', reason: 'paused' });
    await sql(ctx.db, "update cron_state set enabled = true where job = 'occurrence-probe'");
    const next = await deliver('occ-p');
    expect(next.status).toBe('ok');
    expect(runs).toBe(1);
    expect((await rows()).map((r) => r.status)).toEqual(['skipped', 'ok']);
  });

  test('a first delivery that ended in error releases the occurrence; one that succeeded after it holds it', async () => {
    const failing = defineJob({
      ...job,
      async run() {
        runs++;
        throw new Error('provider credentials missing');
      },
    });
    const first = await runJob(failing, { db: ctx.db, trigger: 'cron', budgetMs: 10_000, executionId: 'occ-e' });
    expect(first.status).toBe('error');
    const retry = await deliver('occ-e');
    expect(retry.status).toBe('ok');
    expect(await deliver('occ-e')).toMatchObject({ reason: 'duplicate_delivery', runId: retry.runId });
    expect(runs).toBe(2);
  });

  test('a dry run neither takes nor is refused the occurrence', async () => {
    const dry = await runJob(job, {
      db: ctx.db,
      trigger: 'cron',
      budgetMs: 10_000,
      executionId: 'occ-d',
      dryRun: true,
    });
    expect(dry.status).toBe('ok');
    expect((await deliver('occ-d')).status).toBe('ok');
    expect(runs).toBe(2);
  });

  test('an execution id over 300 characters is refused by the table, not truncated', async () => {
    const r = await deliver('x'.repeat(301));
    expect(r.status).toBe('error');
    expect(r.error).toMatch(/job_runs_execution_id_bounded/);
  });
});

forEachEngine('10 identical Vercel deliveries through the route', (ctx) => {
  const SECRET = 'schedules-test-cron-secret-0123';
  const provider = fakeProvider({ latencyMs: 5 });
  const delivery = () =>
    new Request('http://localhost/api/cron/dm-queue', {
      headers: {
        authorization: `Bearer ${SECRET}`,
        'user-agent': 'vercel-cron/1.0',
        'x-vercel-cron-schedule': '*/15 * * * *',
      },
    });
  beforeAll(() => {
    setDb(ctx.db);
    setProvider(provider);
    vi.stubEnv('CRON_SECRET', SECRET);
  });
  afterAll(() => {
    setDb(undefined);
    setProvider(undefined);
    vi.unstubAllEnvs();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  test('one run sends every DM once; the other nine answer 200 duplicate_delivery; the next slot runs again', async () => {
    const account = await insertAccount(ctx.db, { dm_daily_limit: 100 });
    await insertDms(ctx.db, account, 12);
    // The run's clock (not the database's) places the delivery: 3 minutes into a quarter hour a little ahead of now,
    // so the DMs inserted just now are due.
    const slot = Math.floor(Date.now() / (15 * MIN)) * 15 * MIN + 15 * MIN;
    vi.useFakeTimers({ toFake: ['Date'], now: slot + 3 * MIN });
    const responses = await Promise.all(Array.from({ length: 10 }, () => dmRoute(delivery())));
    expect(responses.map((r) => r.status)).toEqual(Array(10).fill(200));
    const bodies = (await Promise.all(responses.map((r) => r.json()))) as Record<string, unknown>[];
    const worked = bodies.filter((b) => b.status !== 'skipped');
    expect(worked).toHaveLength(1);
    expect(worked[0]).toMatchObject({
      trigger: 'cron',
      succeeded: 12,
      executionId: `vercel:UTC:*/15 * * * *@${new Date(slot).toISOString()}`,
    });
    for (const b of bodies.filter((x) => x.status === 'skipped'))
      expect(b).toMatchObject({ reason: 'duplicate_delivery', runId: worked[0]!.runId, claimed: 0 });
    expect(provider.sends).toHaveLength(12);
    expect(new Set(provider.sends.map((s) => s.text)).size).toBe(12);

    vi.setSystemTime(slot + 16 * MIN);
    const next = (await (await dmRoute(delivery())).json()) as Record<string, unknown>;
    expect(next).toMatchObject({ status: 'ok', scheduledAt: new Date(slot + 15 * MIN).toISOString() });
    const runs = await sql<{ n: number }>(ctx.db, "select count(*)::int as n from job_runs where job = 'dm-queue'");
    expect(runs[0]!.n).toBe(2);
  });

  test('an external scheduler: trigger external, and its retries of one scheduled run deduplicated', async () => {
    await sql(ctx.db, 'truncate job_runs');
    const scheduled = new Date(Date.now() - 5_000).toISOString();
    const cloud = () =>
      dmRoute(
        new Request('http://localhost/api/cron/dm-queue', {
          headers: {
            authorization: `Bearer ${SECRET}`,
            'user-agent': 'Google-Cloud-Scheduler',
            'x-cloudscheduler-jobname': 'dm-queue',
            'x-cloudscheduler-scheduletime': scheduled,
          },
        }),
      );
    const first = (await (await cloud()).json()) as Record<string, unknown>;
    expect(first).toMatchObject({ trigger: 'external', status: 'ok' });
    const stored = await sql<{ trigger: string; execution_id: string }>(
      ctx.db,
      "select trigger, execution_id from job_runs where job = 'dm-queue'",
    );
    expect(stored).toEqual([{ trigger: 'external', execution_id: `cloud-scheduler:dm-queue@${scheduled}` }]);
    // Cloud Scheduler retries a run whose answer did not come back in time: same schedule time, nothing done twice.
    expect(await (await cloud()).json()).toMatchObject({ status: 'skipped', reason: 'duplicate_delivery' });
    const supabase = await dmRoute(
      new Request('http://localhost/api/cron/dm-queue', {
        headers: { authorization: `Bearer ${SECRET}`, 'user-agent': 'pg_net/0.19.5' },
      }),
    );
    expect(await supabase.json()).toMatchObject({ trigger: 'external', status: 'ok' });
  });
});
