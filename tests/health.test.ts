import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { GET } from '../app/api/health/route.ts';
import { setDb } from '../lib/db/index.ts';
import { type Db, DbError } from '../lib/db/types.ts';
import { graceMs, healthReport, isOverdue } from '../lib/health.ts';
import { nextFireAfter, readSchedules, schedules } from '../lib/schedules.ts';
import { forEachEngine, sql } from './helpers/db.ts';

const MIN = 60_000;
const GRACE = 10 * MIN;
const at = (iso: string) => new Date(iso);
const row = (last_success_at: string | null, options: { enabled?: boolean; installed_at?: string | null } = {}) => ({
  enabled: options.enabled ?? true,
  last_success_at,
  installed_at: options.installed_at === undefined ? '2026-03-01T00:00:00Z' : options.installed_at,
});

describe('isOverdue', () => {
  test.each([
    // [case, schedule, now, last success, expected]
    ['ran at the last fire', '*/15 * * * *', '2026-03-10T12:09:00Z', '2026-03-10T12:00:05Z', false],
    ['the 12:15 fire is still within its grace', '*/15 * * * *', '2026-03-10T12:24:59Z', '2026-03-10T12:00:05Z', false],
    ['grace ends exactly now: not yet', '*/15 * * * *', '2026-03-10T12:25:00Z', '2026-03-10T12:00:05Z', false],
    ['the 12:15 fire missed its grace', '*/15 * * * *', '2026-03-10T12:25:01Z', '2026-03-10T12:00:05Z', true],
    ['the 12:15 fire ran', '*/15 * * * *', '2026-03-10T12:26:00Z', '2026-03-10T12:15:02Z', false],
    [
      'missed many fires: overdue even inside the newest grace',
      '*/15 * * * *',
      '2026-03-10T12:17:00Z',
      '2026-03-10T10:00:00Z',
      true,
    ],
    [
      'a late success counts for the fire before it',
      '*/15 * * * *',
      '2026-03-10T12:40:00Z',
      '2026-03-10T12:29:00Z',
      false,
    ],
    ['daily: yesterday ran, today within grace', '5 0 * * *', '2026-03-10T00:14:00Z', '2026-03-09T00:05:30Z', false],
    ['daily: today missed', '5 0 * * *', '2026-03-10T00:16:00Z', '2026-03-09T00:05:30Z', true],
    ['daily: midday, ran this morning', '5 0 * * *', '2026-03-10T13:00:00Z', '2026-03-10T00:06:00Z', false],
  ])('%s', (_case, schedule, now, lastSuccess, expected) => {
    expect(isOverdue(row(lastSuccess), schedule, at(now), GRACE)).toBe(expected);
  });

  test.each([
    // [case, schedule, installed, now, expected]: never ran → one interval plus the grace after install
    ['just installed', '*/15 * * * *', '2026-03-10T12:00:00Z', '2026-03-10T12:20:00Z', false],
    ['interval + grace not yet over', '*/15 * * * *', '2026-03-10T12:00:00Z', '2026-03-10T12:25:00Z', false],
    ['interval + grace over', '*/15 * * * *', '2026-03-10T12:00:00Z', '2026-03-10T12:25:01Z', true],
    ['daily, installed this morning', '5 0 * * *', '2026-03-10T08:00:00Z', '2026-03-11T08:05:00Z', false],
    ['daily, a day and the grace later', '5 0 * * *', '2026-03-10T08:00:00Z', '2026-03-11T08:10:01Z', true],
  ])('never ran: %s', (_case, schedule, installed, now, expected) => {
    expect(isOverdue(row(null, { installed_at: installed }), schedule, at(now), GRACE)).toBe(expected);
  });

  test('never ran and no installation time known: not overdue', () => {
    expect(isOverdue(row(null, { installed_at: null }), '*/15 * * * *', at('2030-01-01T00:00:00Z'), GRACE)).toBe(false);
  });

  test.each([
    ['with an old success', '2026-01-01T00:00:00Z'],
    ['never ran', null],
  ])('a paused job is never overdue: %s', (_case, lastSuccess) => {
    expect(isOverdue(row(lastSuccess, { enabled: false }), '*/15 * * * *', at('2026-03-10T12:00:00Z'), GRACE)).toBe(
      false,
    );
  });

  test.each([
    ['*/15 * * * *', 15 * MIN],
    ['5 0 * * *', 24 * 60 * MIN],
  ])(
    'moving time (%s): healthy while it runs at every fire, overdue from fire + grace once it stops, and stays so',
    (schedule, step) => {
      const start = at('2026-03-10T00:00:00Z').getTime();
      const stopAt = start + 4 * step;
      const installed = new Date(start - step).toISOString();
      let lastSuccess: string | null = null;
      let firstMissedFire: number | null = null;
      let firstOverdue: number | null = null;
      // One-minute ticks over 8 intervals; a run starts (and succeeds) at each fire until stopAt.
      for (let t = start; t < start + 8 * step; t += MIN) {
        if (nextFireAfter(schedule, new Date(t - 1))!.getTime() === t) {
          if (t < stopAt) lastSuccess = new Date(t).toISOString();
          else firstMissedFire ??= t;
        }
        const overdue = isOverdue(row(lastSuccess, { installed_at: installed }), schedule, new Date(t), GRACE);
        if (firstMissedFire === null) expect(overdue, new Date(t).toISOString()).toBe(false);
        if (overdue) firstOverdue ??= t;
        if (firstOverdue !== null) expect(overdue, `flapped back at ${new Date(t).toISOString()}`).toBe(true);
      }
      expect(firstMissedFire).not.toBeNull();
      expect(firstOverdue).toBe(firstMissedFire! + GRACE + MIN);
    },
  );
});

describe('graceMs', () => {
  test.each([
    [undefined, 10 * MIN],
    ['30', 30 * MIN],
    ['0', 0],
    ['-1', 10 * MIN],
    ['abc', 10 * MIN],
  ])('HEALTH_GRACE_MINUTES=%s → %i ms', (value, expected) => {
    expect(graceMs({ ...process.env, HEALTH_GRACE_MINUTES: value })).toBe(expected);
  });
});

const jobNames = schedules().map((s) => s.job);
// A deployment the jobs can run on: without CRON_SECRET every cron call is refused and health answers `misconfigured`
// (tests/production-config.test.ts).
beforeAll(() => vi.stubEnv('CRON_SECRET', 'health-test-cron-secret-0123'));
afterAll(() => vi.unstubAllEnvs());

forEachEngine('GET /api/health', (ctx) => {
  beforeAll(() => setDb(ctx.db));
  afterAll(() => setDb(undefined));
  afterEach(async () => {
    await sql(ctx.db, 'truncate job_runs, cron_state');
    await sql(ctx.db, 'update cron_installation set installed_at = now()');
  });

  async function call() {
    const res = await GET();
    return { status: res.status, cache: res.headers.get('cache-control'), body: await res.json() };
  }

  test('200 on a fresh installation: nothing has had time to be overdue', async () => {
    const { status, cache, body } = await call();
    expect(status).toBe(200);
    expect(cache).toBe('no-store');
    expect(body.status).toBe('ok');
    expect(body.db).toBe('ok');
    expect(Object.keys(body.jobs).sort()).toEqual([...jobNames].sort());
    for (const s of schedules()) {
      expect(body.jobs[s.job]).toMatchObject({ schedule: s.schedule, lastSuccessAt: null, overdue: false });
      expect(new Date(body.jobs[s.job].nextDueAt).getTime()).toBeGreaterThan(Date.now() - 1000);
    }
  });

  test('503 when a job is overdue; 200 again once every job has run', async () => {
    await sql(ctx.db, "update cron_installation set installed_at = now() - interval '3 days'");
    const down = await call();
    expect(down.status).toBe(503);
    expect(down.body.status).toBe('degraded');
    for (const job of jobNames) expect(down.body.jobs[job].overdue).toBe(true);

    await sql(
      ctx.db,
      `insert into job_runs (job, trigger, status, started_at, finished_at)
       select j, 'cron', 'ok', now(), now() from unnest($1::text[]) j`,
      [jobNames],
    );
    const up = await call();
    expect(up.status).toBe(200);
    for (const job of jobNames) expect(up.body.jobs[job]).toMatchObject({ overdue: false, lastRunStatus: 'ok' });
  });

  test('an error run is not a success; a partial run is', async () => {
    await sql(ctx.db, "update cron_installation set installed_at = now() - interval '3 days'");
    const [first, ...rest] = jobNames;
    await sql(ctx.db, "insert into job_runs (job, trigger, status, started_at) values ($1, 'cron', 'error', now())", [
      first,
    ]);
    await sql(
      ctx.db,
      `insert into job_runs (job, trigger, status, started_at) select j, 'cron', 'partial', now() from unnest($1::text[]) j`,
      [rest],
    );
    const res = await call();
    expect(res.status).toBe(503);
    expect(res.body.jobs[first!]).toMatchObject({ overdue: true, lastRunStatus: 'error', lastSuccessAt: null });
    for (const job of rest) expect(res.body.jobs[job].overdue).toBe(false);
  });

  test('a paused job does not make the check fail', async () => {
    await sql(ctx.db, "update cron_installation set installed_at = now() - interval '3 days'");
    await sql(ctx.db, 'insert into cron_state (job, enabled) select j, false from unnest($1::text[]) j', [jobNames]);
    const res = await call();
    expect(res.status).toBe(200);
    for (const job of jobNames) expect(res.body.jobs[job]).toMatchObject({ enabled: false, overdue: false });
  });

  test('HEALTH_GRACE_MINUTES widens the window', async () => {
    await sql(ctx.db, "update cron_installation set installed_at = now() - interval '3 days'");
    process.env.HEALTH_GRACE_MINUTES = String(5 * 24 * 60);
    try {
      expect((await call()).status).toBe(200);
    } finally {
      delete process.env.HEALTH_GRACE_MINUTES;
    }
  });
});

describe('GET /api/health without a database', () => {
  const unreachable: Db = {
    transport: 'postgres',
    rpc: async () => {
      throw new DbError('connect ECONNREFUSED 127.0.0.1:5432', '08006');
    },
    close: async () => {},
  };
  beforeAll(() => setDb(unreachable));
  afterAll(() => setDb(undefined));

  test('503 with db "unreachable", every job still listed with its next due time', async () => {
    const res = await GET();
    expect(res.status).toBe(503);
    const body = await res.json();
    expect(body).toMatchObject({ status: 'down', db: 'unreachable' });
    expect(Object.keys(body.jobs).sort()).toEqual([...jobNames].sort());
    for (const job of jobNames) expect(body.jobs[job]).toMatchObject({ overdue: false, lastSuccessAt: null });
    expect(JSON.stringify(body)).not.toContain('ECONNREFUSED');
  });
});

forEachEngine('healthReport over both vercel.json keys', (ctx) => {
  // A cron (UTC) and a schedule at 09:00 Berlin with a 5-minute jitter, across the spring DST change (2026-03-29).
  const list = readSchedules({
    crons: [{ path: '/api/cron/dm-queue', schedule: '*/15 * * * *' }],
    schedules: {
      'morning-report': { schedule: '0 9 * * *', timezone: 'Europe/Berlin', jitter: 5, path: '/api/cron/analytics' },
    },
  }).schedules;
  beforeAll(() => setDb(ctx.db));
  afterAll(() => setDb(undefined));
  afterEach(async () => {
    await sql(ctx.db, 'truncate job_runs, cron_state');
  });
  const succeeded = (job: string, atIso: string) =>
    sql(
      ctx.db,
      "insert into job_runs (job, trigger, status, started_at, finished_at) values ($1, 'cron', 'ok', $2, $2)",
      [job, atIso],
    );

  test('each job is judged in its own zone, the jitter added to the grace', async () => {
    await succeeded('dm-queue', '2026-03-29T07:00:10Z');
    await succeeded('analytics', '2026-03-28T09:01:00Z'); // Saturday, after its 09:00 Berlin (08:00 UTC) fire
    // Sunday, summer time: 09:00 Berlin is 07:00 UTC. Grace 10 + jitter 5 minutes: healthy until 07:15 UTC.
    const early = await healthReport(new Date('2026-03-29T07:14:00Z'), list);
    expect(early.jobs.analytics).toMatchObject({
      schedule: '0 9 * * *',
      timezone: 'Europe/Berlin',
      overdue: false,
      nextDueAt: '2026-03-30T07:00:00.000Z', // tomorrow's 09:00 Berlin
    });
    expect(early.jobs['dm-queue']).toMatchObject({ timezone: 'UTC', overdue: false });
    const late = await healthReport(new Date('2026-03-29T07:16:00Z'), list);
    expect(late.jobs.analytics!.overdue).toBe(true);
    expect(late.status).toBe('degraded');
    // Read in UTC, the same schedule would not be due before 09:00 UTC: the zone is what makes it overdue.
    const asUtc = list.map((s) => ({ ...s, timezone: 'UTC' }));
    expect((await healthReport(new Date('2026-03-29T07:16:00Z'), asUtc)).jobs.analytics!.overdue).toBe(false);
  });
});
