import { expect, test } from 'vitest';
import { dmQueue } from '../jobs/dm-queue.ts';
import { runJob } from '../lib/cron/run.ts';
import { setProvider } from '../lib/providers/index.ts';
import { forEachEngine, sql } from './helpers/db.ts';
import { fakeProvider } from './helpers/fake-provider.ts';
import { insertAccount, insertDms } from './helpers/fixtures.ts';

/**
 * Every instant lies inside the calendar window the engine computes for it (queue_window: the caps' local day and
 * week), in every zone of pg_timezone_names, over a year. Walking all ~1,200 zone names for 35,040 quarter hours each
 * would be 42 M calls; instead each distinct rule set is walked once — zones whose UTC offset agrees at noon on every
 * day of 2026 and at every quarter hour of every day on which it changes behave identically — in 15-minute steps over
 * the three days around every offset change, plus two ordinary days. The same walk shows that the formula the claim
 * used before (`date_trunc('day', local) at time zone tz`) puts some instants before their day's start: on days whose
 * local midnight happens twice it picks the later one.
 */
const WALK = `
with days as (
  select z.name, d::date as day,
         extract(epoch from ((d + interval '12 hours') at time zone z.name) - ((d + interval '12 hours') at time zone 'UTC'))::int as off
    from pg_timezone_names z, generate_series('2026-01-01'::timestamp, '2026-12-31', interval '1 day') d
),
changes as (
  select d.name, d.day from (select name, day, off, lag(off) over (partition by name order by day) as prev from days) d
   where d.prev is not null and d.prev <> d.off
),
fine as (
  select c.name, c.day,
         string_agg(extract(epoch from (t at time zone c.name) - (t at time zone 'UTC'))::int::text, ',' order by t) as s
    from changes c,
         generate_series((c.day - 1)::timestamp at time zone 'UTC', c.day::timestamp at time zone 'UTC', interval '15 minutes') t
   group by c.name, c.day
),
sig as (
  select d.name, string_agg(d.off::text, ',' order by d.day) || '|' ||
         coalesce((select string_agg(f.day || ':' || f.s, ';' order by f.day) from fine f where f.name = d.name), '') as s
    from days d group by d.name
),
reps as (select min(name) as name from sig group by s),
instants as (
  select c.name, t from changes c join reps r using (name),
         generate_series((c.day - 2)::timestamp at time zone 'UTC', (c.day + 1)::timestamp at time zone 'UTC', interval '15 minutes') t
  union all
  select r.name, t from reps r, generate_series('2026-03-02T00:00:00Z'::timestamptz, '2026-03-04T00:00:00Z', interval '15 minutes') t
),
checked as (
  select i.name, i.t, p.period, w.starts, w.ends
    from instants i cross join (values ('day'), ('week')) p(period)
    cross join lateral public.queue_window(i.name, p.period, i.t) w
)
select (select count(*) from pg_timezone_names)::int as zone_names,
       count(distinct name)::int as rule_sets,
       (select count(*) from changes c join reps r using (name))::int as changes,
       count(*)::int as checks,
       count(*) filter (where not (starts <= t and t < ends))::int as outside,
       -- The window starts a local period: a quarter hour before its start, the local period was an earlier one.
       count(*) filter (where not (date_trunc(period, (starts - interval '15 minutes') at time zone name)
                                   < date_trunc(period, starts at time zone name)))::int as not_a_period_start,
       count(*) filter (where period = 'day' and not (ends - starts between interval '21 hours' and interval '27 hours'))::int
         as odd_days,
       count(*) filter (where period = 'week' and not (ends - starts between interval '165 hours' and interval '171 hours'))::int
         as odd_weeks,
       count(*) filter (where period = 'day' and (date_trunc('day', t at time zone name) at time zone name) > t)::int
         as before_fix_outside
  from checked`;

forEachEngine('queue_window over every time zone', (ctx) => {
  test('every instant lies inside its local day and week; the window starts a local period and has a sane length', async () => {
    const [r] = await sql<Record<string, number>>(ctx.db, WALK);
    console.log(`[queue_window] ${ctx.engine}: ${JSON.stringify(r)}`);
    expect(r!.zone_names).toBeGreaterThan(400);
    expect(r!.rule_sets).toBeGreaterThan(30);
    expect(r!.changes).toBeGreaterThan(30);
    expect(r).toMatchObject({ outside: 0, not_a_period_start: 0, odd_days: 0, odd_weeks: 0 });
    // The check can fail: the formula the claim used before puts instants outside their day.
    expect(r!.before_fix_outside).toBeGreaterThan(0);
  }, 180_000);

  test('a day whose local midnight happens twice still gets one cap (Atlantic/Azores, 25 October 2026)', async () => {
    // Clocks fall back from 01:00 to 00:00: local 00:00–01:00 happens at 00:00 UTC and again at 01:00 UTC. With the
    // later midnight as the day's start, every claim in the first pass saw an empty day: 25 DMs against a cap of 5.
    await sql(ctx.db, 'truncate accounts, dm_queue, job_runs, cron_state cascade');
    const a = await insertAccount(ctx.db, { timezone: 'Atlantic/Azores', dm_daily_limit: 5 });
    await insertDms(ctx.db, a, 30, { send_at: new Date('2026-10-24T00:00:00Z') });
    const provider = fakeProvider();
    setProvider(provider);
    try {
      for (const at of ['00:00', '00:20', '00:40', '01:00', '01:20', '06:00', '12:00', '23:59']) {
        await runJob(dmQueue, {
          db: ctx.db,
          trigger: 'manual',
          budgetMs: 10_000,
          now: () => new Date(`2026-10-25T${at}:00Z`),
        });
      }
    } finally {
      setProvider(undefined);
    }
    // 2026-10-25T23:59Z is 22:59 local on the 25th: the whole walk is one local day.
    expect(provider.sends).toHaveLength(5);
    const [day] = await sql<{ n: number }>(
      ctx.db,
      `select count(*)::int as n from dm_queue where status = 'sent' and (sent_at at time zone 'Atlantic/Azores')::date = '2026-10-25'`,
    );
    expect(day!.n).toBe(5);
  });
});
