import { expect, test } from 'vitest';
import { claimDueDms, reapExpiredDms, settleDms } from '../lib/dm/queries.ts';
import { forEachEngine, sql } from './helpers/db.ts';
import { insertAccount, insertDms, statusCounts } from './helpers/fixtures.ts';

const POLICY = { maxAttempts: 5, backoffSeconds: [60, 300, 1800, 21600] };
const RUN = '00000000-0000-4000-8000-000000000001';

forEachEngine('claim_due_dms', (ctx) => {
  const reset = () => sql(ctx.db, 'truncate accounts, dm_queue cascade');
  const claim = (limit: number, now: Date) => claimDueDms(ctx.db, { limit, leaseSeconds: 90, runId: RUN, now });

  test('the cap counts the day in the account time zone (UTC+14) and ignores yesterday', async () => {
    await reset();
    // 2026-03-10T11:00Z is 2026-03-11 01:00 in Pacific/Kiritimati (UTC+14): its "today" began at 10:00Z.
    const now = new Date('2026-03-10T11:00:00Z');
    const kiri = await insertAccount(ctx.db, { timezone: 'Pacific/Kiritimati', dm_daily_limit: 3 });
    await insertDms(ctx.db, kiri, 2, { status: 'sent', sent_at: new Date('2026-03-10T09:30:00Z') }); // local yesterday
    await insertDms(ctx.db, kiri, 1, { status: 'sent', sent_at: new Date('2026-03-10T10:30:00Z') }); // local today
    await insertDms(ctx.db, kiri, 10);
    // A UTC account with 3 sends yesterday (UTC) has its whole cap today.
    const utc = await insertAccount(ctx.db, { timezone: 'UTC', dm_daily_limit: 3 });
    await insertDms(ctx.db, utc, 3, { status: 'sent', sent_at: new Date('2026-03-09T23:59:59Z') });
    await insertDms(ctx.db, utc, 10);

    const claimed = await claim(100, now);
    const byAccount = (id: string) => claimed.filter((c) => c.account_id === id).length;
    expect(byAccount(kiri)).toBe(2);
    expect(byAccount(utc)).toBe(3);
    expect(await claim(100, now)).toEqual([]);
    // Sending and uncertain DMs count against the cap too; a new local day frees it.
    const nextDay = new Date('2026-03-11T10:00:01Z');
    await sql(ctx.db, "update dm_queue set status = 'uncertain' where status = 'sending' and account_id = $1", [kiri]);
    const later = await claim(100, nextDay);
    expect(later.filter((c) => c.account_id === kiri)).toHaveLength(3);
  });

  test('round-robin across accounts: a big backlog never starves small accounts', async () => {
    await reset();
    const now = new Date('2026-03-10T12:00:00Z');
    const big = await insertAccount(ctx.db, { dm_daily_limit: 1000 });
    const small1 = await insertAccount(ctx.db);
    const small2 = await insertAccount(ctx.db);
    await insertDms(ctx.db, big, 300);
    await insertDms(ctx.db, small1, 2);
    await insertDms(ctx.db, small2, 2);
    const claimed = await claim(6, now);
    expect(claimed).toHaveLength(6);
    expect(claimed.filter((c) => c.account_id === small1)).toHaveLength(2);
    expect(claimed.filter((c) => c.account_id === small2)).toHaveLength(2);
    // Interleaved by turn: every account's first DM comes before anyone's second.
    expect(claimed.slice(0, 3).map((c) => c.turn)).toEqual([1, 1, 1]);
  });

  test('never more than p_limit rows, even when the per-account share is rounded up', async () => {
    await reset();
    const now = new Date('2026-03-10T12:00:00Z');
    for (let i = 0; i < 3; i++) await insertDms(ctx.db, await insertAccount(ctx.db), 5);
    const claimed = await claim(4, now); // share = ceil(4 / 3) = 2 per account, 6 candidates
    expect(claimed).toHaveLength(4);
    expect(await statusCounts(ctx.db)).toEqual({ sending: 4, pending: 11 });
  });

  test('oldest due first within an account; future, retry-delayed and inactive-account DMs are not claimed', async () => {
    await reset();
    const now = new Date('2026-03-10T12:00:00Z');
    const a = await insertAccount(ctx.db);
    const [late] = await insertDms(ctx.db, a, 1, { send_at: new Date('2026-03-10T11:00:00Z') });
    const [early] = await insertDms(ctx.db, a, 1, { send_at: new Date('2026-03-10T10:00:00Z') });
    await insertDms(ctx.db, a, 1, { send_at: new Date('2026-03-10T13:00:00Z') }); // future
    const [delayed] = await insertDms(ctx.db, a, 1, { send_at: new Date('2026-03-10T09:00:00Z') });
    await sql(ctx.db, "update dm_queue set next_attempt_at = '2026-03-10T12:30:00Z' where id = $1", [delayed]);
    for (const status of ['paused', 'disconnected']) {
      const b = await insertAccount(ctx.db, { status });
      await insertDms(ctx.db, b, 2);
    }
    const claimed = await claim(10, now);
    expect(claimed.map((c) => c.id)).toEqual([early, late]);
    const rows = await sql<{ status: string; attempts: number; run_id: string; lease_until: string }>(
      ctx.db,
      'select status, attempts, run_id, lease_until from dm_queue where id = $1',
      [early],
    );
    expect(rows[0]).toMatchObject({ status: 'sending', attempts: 1, run_id: RUN });
    expect(new Date(rows[0]!.lease_until).getTime()).toBe(now.getTime() + 90_000);
  });

  test('pacing: one DM per interval (plus jitter), and only inside the local sending window', async () => {
    await reset();
    const t0 = new Date('2026-03-10T12:00:00Z');
    const paced = await insertAccount(ctx.db, { dm_min_interval_seconds: 600, dm_jitter_seconds: 60 });
    await insertDms(ctx.db, paced, 5);
    expect(await claim(10, t0)).toHaveLength(1);
    const [acct] = await sql<{ dm_resume_at: string }>(ctx.db, 'select dm_resume_at from accounts where id = $1', [
      paced,
    ]);
    const gap = new Date(acct!.dm_resume_at).getTime() - t0.getTime();
    expect(gap).toBeGreaterThanOrEqual(600_000);
    expect(gap).toBeLessThanOrEqual(660_000);
    expect(await claim(10, new Date(t0.getTime() + 599_000))).toHaveLength(0);
    expect(await claim(10, new Date(t0.getTime() + 661_000))).toHaveLength(1);

    // New York, window 9..17 local: 12:00Z is 08:00 EDT... use a winter date, 12:00Z = 07:00 EST.
    const ny = await insertAccount(ctx.db, {
      timezone: 'America/New_York',
      dm_window_start_hour: 9,
      dm_window_end_hour: 17,
    });
    await insertDms(ctx.db, ny, 3);
    const winter = new Date('2026-01-15T12:00:00Z');
    expect((await claim(10, winter)).filter((c) => c.account_id === ny)).toHaveLength(0);
    const [resume] = await sql<{ dm_resume_at: string }>(ctx.db, 'select dm_resume_at from accounts where id = $1', [
      ny,
    ]);
    expect(new Date(resume!.dm_resume_at).toISOString()).toBe('2026-01-15T14:00:00.000Z'); // 09:00 EST
    expect((await claim(10, new Date('2026-01-15T14:00:00Z'))).filter((c) => c.account_id === ny)).toHaveLength(3);
  });

  test('settle: sent, retry with backoff and Retry-After, failed after the last attempt, release, account errors, 429 cool-down', async () => {
    await reset();
    const now = new Date('2026-03-10T12:00:00Z');
    const a = await insertAccount(ctx.db, { dm_daily_limit: 100 });
    const b = await insertAccount(ctx.db, { dm_daily_limit: 100 });
    const ids = await insertDms(ctx.db, a, 5);
    const [bId] = await insertDms(ctx.db, b, 1);
    await sql(ctx.db, 'update dm_queue set attempts = 4 where id = $1', [ids[3]]); // its 5th attempt is next
    const claimed = await claim(10, now);
    expect(claimed).toHaveLength(6);
    const counts = await settleDms(ctx.db, {
      runId: RUN,
      policy: POLICY,
      now,
      outcomes: [
        { id: ids[0]!, outcome: 'success', result: { chatId: 'c1', messageId: 'm1' } },
        { id: ids[1]!, outcome: 'retry', error: 'boom', code: 'errors/unexpected_error' },
        {
          id: ids[2]!,
          outcome: 'retry',
          error: 'slow down',
          code: 'errors/too_many_requests',
          retryAfterMs: 900_000,
          cooldown: true,
        },
        { id: ids[3]!, outcome: 'retry', error: 'still failing' },
        { id: ids[4]!, outcome: 'release', error: 'not started: run budget exhausted' },
        {
          id: bId!,
          outcome: 'key',
          error: 'disconnected',
          code: 'errors/disconnected_account',
          keyStatus: 'disconnected',
        },
      ],
    });
    expect(counts).toEqual({ succeeded: 1, failed: 1, retried: 2, uncertain: 0, released: 2 });
    const rows = await sql<{
      id: string;
      status: string;
      attempts: number;
      next_attempt_at: string | null;
      last_error: string | null;
      provider_message_id: string | null;
    }>(ctx.db, 'select id, status, attempts, next_attempt_at, last_error, provider_message_id from dm_queue');
    const row = (id: string) => rows.find((r) => r.id === id)!;
    expect(row(ids[0]!)).toMatchObject({ status: 'sent', provider_message_id: 'm1' });
    expect(row(ids[1]!)).toMatchObject({ status: 'pending', attempts: 1, last_error: 'errors/unexpected_error: boom' });
    expect(new Date(row(ids[1]!).next_attempt_at!).getTime()).toBe(now.getTime() + 60_000);
    expect(new Date(row(ids[2]!).next_attempt_at!).getTime()).toBe(now.getTime() + 900_000); // Retry-After beats +1 min
    expect(row(ids[3]!)).toMatchObject({ status: 'failed', attempts: 5 });
    expect(row(ids[3]!).last_error).toMatch(/^gave up after 5 attempts: still failing/);
    expect(row(ids[4]!)).toMatchObject({ status: 'pending', attempts: 0, next_attempt_at: null });
    expect(row(bId!)).toMatchObject({ status: 'pending', attempts: 0 });
    const accts = await sql<{ id: string; status: string; status_reason: string | null; dm_resume_at: string | null }>(
      ctx.db,
      'select id, status, status_reason, dm_resume_at from accounts',
    );
    expect(accts.find((x) => x.id === b)).toMatchObject({
      status: 'disconnected',
      status_reason: 'errors/disconnected_account: disconnected',
    });
    expect(new Date(accts.find((x) => x.id === a)!.dm_resume_at!).getTime()).toBe(now.getTime() + 900_000);
    // A second settle of the same outcomes changes nothing: rows no longer held by the run are left alone.
    const again = await settleDms(ctx.db, {
      runId: RUN,
      policy: POLICY,
      now,
      outcomes: [{ id: ids[1]!, outcome: 'success', result: { chatId: null, messageId: null } }],
    });
    expect(again.succeeded).toBe(0);
  });

  test('reaper: an expired sending lease becomes uncertain with a reason, never pending', async () => {
    await reset();
    const now = new Date('2026-03-10T12:00:00Z');
    const a = await insertAccount(ctx.db);
    await insertDms(ctx.db, a, 3);
    expect(await claim(3, now)).toHaveLength(3);
    expect(await reapExpiredDms(ctx.db, new Date(now.getTime() + 89_000))).toBe(0);
    expect(await reapExpiredDms(ctx.db, new Date(now.getTime() + 90_000))).toBe(3);
    expect(await statusCounts(ctx.db)).toEqual({ uncertain: 3 });
    const [r] = await sql<{ last_error: string }>(ctx.db, 'select last_error from dm_queue limit 1');
    expect(r!.last_error).toMatch(/lease expired .* not re-sent automatically/);
  });

  test.each([
    [
      'empty body',
      "insert into dm_queue (account_id, recipient_id, body) values ($1, 'r', '   ')",
      /dm_queue_body_not_empty/,
    ],
    [
      'oversized body',
      "insert into dm_queue (account_id, recipient_id, body) values ($1, 'r', repeat('x', 8001))",
      /dm_queue_body_max_8000/,
    ],
    [
      'missing recipient',
      "insert into dm_queue (account_id, recipient_id, body) values ($1, '', 'hi')",
      /dm_queue_recipient_id_not_empty/,
    ],
    [
      'null recipient',
      "insert into dm_queue (account_id, body) values ($1, 'hi')",
      /null value in column "recipient_id"/,
    ],
    [
      'unknown status',
      "insert into dm_queue (account_id, recipient_id, body, status) values ($1, 'r', 'hi', 'queued')",
      /dm_queue_status_valid/,
    ],
    [
      'unknown account',
      "insert into dm_queue (account_id, recipient_id, body) values (gen_random_uuid(), 'r', 'hi') returning $1::text",
      /foreign key/,
    ],
    [
      'unknown time zone',
      "insert into accounts (name, timezone) values ($1, 'Mars/Olympus_Mons')",
      /accounts_timezone_valid/,
    ],
    ['negative cap', 'insert into accounts (name, dm_daily_limit) values ($1, -1)', /accounts_dm_daily_limit_range/],
    ['unknown account status', "insert into accounts (name, status) values ($1, 'banned')", /accounts_status_valid/],
  ])('refused at insert: %s', async (_name, statement, message) => {
    const a = await insertAccount(ctx.db);
    await expect(sql(ctx.db, statement, [a])).rejects.toThrow(message);
  });
});
