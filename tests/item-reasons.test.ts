import { afterAll, afterEach, beforeEach, describe, expect, test } from 'vitest';
import { GET as getDm } from '../app/api/dms/[id]/route.ts';
import { GET as getInvitation } from '../app/api/invitations/[id]/route.ts';
import { GET as getPost } from '../app/api/posts/[id]/route.ts';
import { jobs } from '../jobs/index.ts';
import { runJob } from '../lib/cron/run.ts';
import { setDb } from '../lib/db/index.ts';
import type { Db } from '../lib/db/types.ts';
import { setProvider } from '../lib/providers/index.ts';
import { type Explanation, explainItems, QUEUE_JOBS, waitingReasons } from '../lib/queue-reasons/index.ts';
import { inWords, reasonInWords } from '../lib/queue-reasons/words.ts';
import { forEachEngine, sql } from './helpers/db.ts';
import { fakeProvider } from './helpers/fake-provider.ts';
import { insertAccount, insertDms } from './helpers/fixtures.ts';

/**
 * Every reason of queue_explain (supabase/migrations/20261202000300_item_reasons.sql) built as its exact situation,
 * and in every test the explanation is held to what the next claim with the same p_now actually does: the items
 * explained as `due` are exactly the items the claim takes.
 */

// A Wednesday, 12:00 UTC.
const NOW = new Date('2026-03-04T12:00:00Z');
const PAST = new Date('2026-03-04T08:00:00Z');
const at = (ms: number) => new Date(NOW.getTime() + ms);
const MIN = 60_000;
const PLURAL: Record<string, string> = { dm: 'dms', post: 'posts', invitation: 'invitations' };

async function explain(db: Db, queue: string, ids: string[], now = NOW): Promise<Map<string, Explanation>> {
  const rows = await explainItems(db, queue, ids, { now });
  return new Map(rows.map((r) => [r.id, r]));
}

async function claim(db: Db, queue: string, now = NOW): Promise<string[]> {
  const rows = await sql<{ id: string }>(db, `select id from claim_due_${PLURAL[queue]}(1000, 120, null, $1)`, [
    now.toISOString(),
  ]);
  return rows.map((r) => r.id).sort();
}

/** Explains `ids`, claims, and checks the claim took exactly the `due` ones; returns the explanations. */
async function agreed(db: Db, queue: string, ids: string[], now = NOW): Promise<Map<string, Explanation>> {
  const explained = await explain(db, queue, ids, now);
  const due = [...explained.values()].filter((e) => e.reason === 'due').map((e) => e.id);
  const claimed = await claim(db, queue, now);
  expect(claimed).toEqual(due.sort());
  return explained;
}

async function insertInvitations(db: Db, accountId: string, count: number, input: { status?: string; at?: Date } = {}) {
  const rows = await sql<{ id: string }>(
    db,
    `insert into invitations (account_id, recipient_id, send_at, status, sent_at, attempted_at)
     select $1, 'p-' || g, '2026-01-01', $2, $3, $3 from generate_series(1, $4::int) g returning id`,
    [accountId, input.status ?? 'pending', input.at?.toISOString() ?? null, count],
  );
  return rows.map((r) => r.id);
}

forEachEngine('item reasons', (ctx) => {
  beforeEach(async () => {
    await sql(ctx.db, 'truncate accounts, dm_queue, posts, invitations, job_runs, cron_state cascade');
    await sql(ctx.db, 'update queue_rotation set last_account = null');
  });

  test('due: the next claim takes it', async () => {
    const account = await insertAccount(ctx.db);
    const [id] = await insertDms(ctx.db, account, 1, { send_at: PAST });
    const e = (await agreed(ctx.db, 'dm', [id!])).get(id!)!;
    expect(e).toMatchObject({ status: 'pending', reason: 'due', detail: { turn: 1 } });
  });

  test('scheduled: send_at in the future, until = send_at', async () => {
    const account = await insertAccount(ctx.db);
    const [id] = await insertDms(ctx.db, account, 1, { send_at: at(60 * MIN) });
    const e = (await agreed(ctx.db, 'dm', [id!])).get(id!)!;
    expect(e.reason).toBe('scheduled');
    expect(new Date(e.detail.until!)).toEqual(at(60 * MIN));
  });

  test('backoff and retry_after: a rate-limited attempt backs the item off and rests its account', async () => {
    const account = await insertAccount(ctx.db);
    const [first] = await insertDms(ctx.db, account, 1, { send_at: PAST });
    const claimed = await claim(ctx.db, 'dm', at(-2 * MIN));
    expect(claimed).toEqual([first]);
    const run = await sql<{ run_id: string | null }>(ctx.db, 'select run_id from dm_queue where id = $1', [first]);
    await ctx.db.rpc('settle_dms', {
      p_run_id: run[0]!.run_id,
      p_outcomes: [
        {
          id: first,
          outcome: 'retry',
          error: 'too many requests',
          code: '429',
          cooldown: true,
          retryAfterMs: 3_600_000,
        },
      ],
      p_now: at(-1 * MIN),
    });
    const [second] = await insertDms(ctx.db, account, 1, { send_at: PAST });
    const e = await agreed(ctx.db, 'dm', [first!, second!]);
    expect(e.get(first!)).toMatchObject({ reason: 'backoff', detail: { attempt: 1, maxAttempts: 5 } });
    expect(e.get(first!)!.detail.lastError).toContain('too many requests');
    expect(new Date(e.get(first!)!.detail.until!)).toEqual(at(59 * MIN));
    expect(e.get(second!)!.reason).toBe('retry_after');
    expect(new Date(e.get(second!)!.detail.until!)).toEqual(at(59 * MIN));
  });

  test('cap_reached: the local day is used up; it resets at the next local midnight (as a UTC instant)', async () => {
    const account = await insertAccount(ctx.db, { timezone: 'America/New_York', dm_daily_limit: 2 });
    await insertDms(ctx.db, account, 2, { status: 'sent', sent_at: PAST, attempted_at: PAST, send_at: PAST });
    const [id] = await insertDms(ctx.db, account, 1, { send_at: PAST });
    const e = (await agreed(ctx.db, 'dm', [id!])).get(id!)!;
    expect(e).toMatchObject({ reason: 'cap_reached', detail: { used: 2, limit: 2, period: 'day' } });
    // 2026-03-05 00:00 in New York (EST, UTC-5).
    expect(new Date(e.detail.until!)).toEqual(new Date('2026-03-05T05:00:00Z'));
    expect(reasonInWords(e.reason, e.detail, NOW)).toContain('2/2 used');
    expect(inWords(e.detail.until, NOW)).toBe('in 17 h');
  });

  test('cap_reached by turn: more items are due than the cap has left; the claim takes the first ones', async () => {
    const account = await insertAccount(ctx.db, { dm_daily_limit: 2 });
    // Same send_at: the claim's order is then by id.
    const ids = (await insertDms(ctx.db, account, 3, { send_at: PAST })).sort();
    const e = await agreed(ctx.db, 'dm', ids);
    expect(ids.map((id) => e.get(id)!.reason)).toEqual(['due', 'due', 'cap_reached']);
    expect(e.get(ids[2]!)!.detail).toMatchObject({ used: 0, limit: 2, remaining: 2, turn: 3 });
    // After the claim the account rests (cap reached): the same reason, read from the claim's own resume time.
    const after = await agreed(ctx.db, 'dm', [ids[2]!], at(MIN));
    expect(after.get(ids[2]!)).toMatchObject({ reason: 'cap_reached', detail: { used: 2, remaining: 0 } });
  });

  test('cap_reached for a weekly cap: invitations reset on Monday 00:00 local', async () => {
    const account = await insertAccount(ctx.db, { timezone: 'Europe/Berlin' });
    await sql(ctx.db, 'update accounts set invite_weekly_limit = 1 where id = $1', [account]);
    await insertInvitations(ctx.db, account, 1, { status: 'sent', at: PAST });
    const [id] = await insertInvitations(ctx.db, account, 1);
    const e = (await agreed(ctx.db, 'invitation', [id!])).get(id!)!;
    expect(e).toMatchObject({ reason: 'cap_reached', detail: { used: 1, limit: 1, period: 'week' } });
    // Monday 2026-03-09 00:00 in Berlin (CET, UTC+1).
    expect(new Date(e.detail.until!)).toEqual(new Date('2026-03-08T23:00:00Z'));
  });

  test('outside_window: 21:00 in Tokyo with a 09–17 window; opens at 09:00 local tomorrow', async () => {
    const account = await insertAccount(ctx.db, {
      timezone: 'Asia/Tokyo',
      dm_window_start_hour: 9,
      dm_window_end_hour: 17,
    });
    const [id] = await insertDms(ctx.db, account, 1, { send_at: PAST });
    const e = (await agreed(ctx.db, 'dm', [id!])).get(id!)!;
    expect(e).toMatchObject({ reason: 'outside_window', detail: { windowStartHour: 9, windowEndHour: 17 } });
    expect(new Date(e.detail.until!)).toEqual(new Date('2026-03-05T00:00:00Z'));
    // The claim rested the account until the window opens: still outside_window, read from the resume time.
    const after = (await agreed(ctx.db, 'dm', [id!], at(MIN))).get(id!)!;
    expect(after.reason).toBe('outside_window');
  });

  test('pacing: one per claim; the second waits for the next slot (resume_at)', async () => {
    const account = await insertAccount(ctx.db, { dm_min_interval_seconds: 600, dm_jitter_seconds: 0 });
    const ids = (await insertDms(ctx.db, account, 2, { send_at: PAST })).sort();
    const e = await agreed(ctx.db, 'dm', ids);
    expect(e.get(ids[0]!)!.reason).toBe('due');
    expect(e.get(ids[1]!)).toMatchObject({ reason: 'pacing', detail: { minIntervalSeconds: 600, turn: 2 } });
    const after = (await agreed(ctx.db, 'dm', [ids[1]!], at(MIN))).get(ids[1]!)!;
    expect(after.reason).toBe('pacing');
    expect(new Date(after.detail.until!)).toEqual(at(10 * MIN));
    // At the slot it is due, and the claim takes it.
    expect((await agreed(ctx.db, 'dm', [ids[1]!], at(10 * MIN))).get(ids[1]!)!.reason).toBe('due');
  });

  test.each([
    ['paused', 'account_paused'],
    ['disconnected', 'account_disconnected'],
  ])('account %s: since when and why', async (status, reason) => {
    const account = await insertAccount(ctx.db);
    await sql(ctx.db, `update accounts set status = $2, status_reason = 'errors/disconnected_account' where id = $1`, [
      account,
      status,
    ]);
    const [id] = await insertDms(ctx.db, account, 1, { send_at: PAST });
    const e = (await agreed(ctx.db, 'dm', [id!])).get(id!)!;
    expect(e).toMatchObject({ reason, detail: { accountStatus: status, statusReason: 'errors/disconnected_account' } });
    expect(Number.isNaN(new Date(e.detail.since!).getTime())).toBe(false);
  });

  test('job_paused: the claim alone would take it, but the paused job runs nothing', async () => {
    const account = await insertAccount(ctx.db);
    const [id] = await insertDms(ctx.db, account, 1, { send_at: PAST });
    await ctx.db.rpc('cron_set_enabled', { p_job: 'dm-queue', p_enabled: false });
    const e = (await explain(ctx.db, 'dm', [id!])).get(id!)!;
    expect(e).toMatchObject({ reason: 'job_paused', detail: { job: 'dm-queue' } });
    setProvider(fakeProvider());
    const job = jobs['dm-queue']!;
    const summary = await runJob(job, { db: ctx.db, trigger: 'cron', budgetMs: 10_000, now: () => NOW });
    expect(summary.status).toBe('skipped');
    expect((await sql<{ status: string }>(ctx.db, 'select status from dm_queue where id = $1', [id]))[0]!.status).toBe(
      'pending',
    );
    // Without the job's pause flag the same item is due (the job is the only thing holding it).
    expect((await explainItems(ctx.db, 'dm', [id!], { now: NOW, job: null }))[0]!.reason).toBe('due');
  });

  test('leased: by run X until lease_until; the next claim does not take it', async () => {
    const account = await insertAccount(ctx.db);
    const [id] = await insertDms(ctx.db, account, 1, { send_at: PAST });
    const runId = '11111111-2222-4333-8444-555555555555';
    await sql(ctx.db, `select * from claim_due_dms(10, 120, $1, $2)`, [runId, NOW.toISOString()]);
    const e = (await agreed(ctx.db, 'dm', [id!], at(MIN))).get(id!)!;
    expect(e).toMatchObject({ status: 'sending', reason: 'leased', detail: { runId, expired: false } });
    expect(new Date(e.detail.until!)).toEqual(at(2 * MIN));
  });

  test.each([
    ['uncertain', 'uncertain'],
    ['failed', 'failed'],
    ['cancelled', 'cancelled'],
  ])('%s: what the operator can do; never claimed', async (status, reason) => {
    const account = await insertAccount(ctx.db);
    const [id] = await insertDms(ctx.db, account, 1, { send_at: PAST, status });
    const e = (await agreed(ctx.db, 'dm', [id!])).get(id!)!;
    expect(e.reason).toBe(reason);
    if (status !== 'cancelled') expect(e.detail.actions).toEqual(['retry', 'mark-sent', 'cancel']);
  });

  test('posts: scheduled, due and an account paused, from the same rules', async () => {
    const a = await insertAccount(ctx.db);
    const b = await insertAccount(ctx.db, { status: 'paused' });
    const rows = await sql<{ id: string }>(
      ctx.db,
      `insert into posts (account_id, content, scheduled_for) values ($1, 'x', $3), ($1, 'y', $4), ($2, 'z', $3)
       returning id`,
      [a, b, PAST.toISOString(), at(30 * MIN).toISOString()],
    );
    const ids = rows.map((r) => r.id);
    const e = await agreed(ctx.db, 'post', ids);
    expect(ids.map((id) => e.get(id)!.reason)).toEqual(['due', 'scheduled', 'account_paused']);
  });

  test('the waiting breakdown counts what explain says, by reason', async () => {
    const a = await insertAccount(ctx.db, { dm_daily_limit: 3 });
    const b = await insertAccount(ctx.db, { status: 'disconnected' });
    await insertDms(ctx.db, a, 5, { send_at: PAST });
    await insertDms(ctx.db, a, 2, { send_at: at(90 * MIN) });
    await insertDms(ctx.db, b, 4, { send_at: PAST });
    const counts = await waitingReasons(ctx.db, 'dm', { now: NOW });
    expect(Object.fromEntries(counts.map((c) => [c.reason, c.n]))).toEqual({
      due: 3,
      cap_reached: 2,
      scheduled: 2,
      account_disconnected: 4,
    });
    expect(counts.find((c) => c.reason === 'account_disconnected')!.examples).toHaveLength(3);
    // And the claim takes the 3 the breakdown calls due.
    expect(await claim(ctx.db, 'dm')).toHaveLength(3);
  });

  test('an unknown queue is refused with a clear error', async () => {
    await expect(explainItems(ctx.db, 'nope', [])).rejects.toThrow(/nope is not a queue of queue_define/);
  });

  describe('GET /api/<queue>/<id>', () => {
    const KEY = 'an-app-api-key-of-enough-length';
    const request = (path: string, key: string | null = KEY) =>
      new Request(`http://localhost${path}`, { headers: key ? { authorization: `Bearer ${key}` } : {} });
    const routes = { dm: getDm, post: getPost, invitation: getInvitation } as const;
    const get = (queue: keyof typeof routes, id: string, key?: string | null) =>
      routes[queue](request(`/api/${PLURAL[queue]}/${id}`, key), { params: Promise.resolve({ id }) });

    beforeEach(() => {
      setDb(ctx.db);
      process.env.APP_API_KEY = KEY;
    });
    afterEach(() => {
      delete process.env.APP_API_KEY;
      setProvider(undefined);
    });
    afterAll(() => setDb(undefined));

    test('200: the item without its text, and its reason with "in …"', async () => {
      const account = await insertAccount(ctx.db, { dm_daily_limit: 0 });
      const [id] = await insertDms(ctx.db, account, 1, { send_at: PAST, body: 'SECRET-MESSAGE-TEXT' });
      const res = await get('dm', id!);
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text).not.toContain('SECRET-MESSAGE-TEXT');
      const body = JSON.parse(text);
      expect(body.item).toMatchObject({ id, status: 'pending', attempts: 0, accountId: account });
      expect(body.reason).toMatchObject({ code: 'cap_reached', detail: { used: 0, limit: 0 } });
      expect(body.reason.in).toMatch(/^in \d+ h( \d+ min)?$|^in \d+ min$/);
      expect(body.reason.words).toContain('cap');
    });

    test('200 for posts and invitations too', async () => {
      const account = await insertAccount(ctx.db);
      const [post] = await sql<{ id: string }>(
        ctx.db,
        `insert into posts (account_id, content, scheduled_for) values ($1, 'POST-TEXT', $2) returning id`,
        [account, new Date(Date.now() + 60 * MIN).toISOString()],
      );
      const [inv] = await insertInvitations(ctx.db, account, 1);
      const p = await get('post', post!.id);
      expect(p.status).toBe(200);
      const pText = await p.text();
      expect(pText).not.toContain('POST-TEXT');
      expect(JSON.parse(pText).reason.code).toBe('scheduled');
      const i = await get('invitation', inv!);
      expect(i.status).toBe(200);
      expect((await i.json()).reason.code).toBe('due');
    });

    test('404 unknown id, 400 malformed id (zod message), 401 wrong or no key', async () => {
      const unknown = await get('dm', '00000000-0000-4000-8000-000000000000');
      expect(unknown.status).toBe(404);
      expect(await unknown.json()).toEqual({ error: 'DM not found' });
      const bad = await get('dm', 'not-a-uuid');
      expect(bad.status).toBe(400);
      expect(await bad.json()).toEqual({ error: 'id: id must be a UUID' });
      for (const key of [null, 'wrong-key-wrong-key-wrong']) {
        const res = await get('invitation', '00000000-0000-4000-8000-000000000000', key);
        expect(res.status).toBe(401);
        expect(await res.json()).toEqual({ error: 'unauthorized' });
      }
    });
  });
});

test('QUEUE_JOBS names the job that drains each queue', () => {
  for (const [queue, name] of Object.entries(QUEUE_JOBS)) {
    const job = jobs[name];
    expect(job?.probe).toBe(`${queue}_probe`);
  }
});
