import { describe, expect, test } from 'vitest';
import { type AdminOverview, adminOverview, QUEUE_NAME, resolveItem } from '../lib/admin/queries.ts';
import type { Db } from '../lib/db/types.ts';
import { forEachEngine, sql } from './helpers/db.ts';
import { insertAccount, insertDms } from './helpers/fixtures.ts';

/**
 * /admin is generic over queue_policies (supabase/migrations/20261201000500_admin_generic.sql): the invitations queue,
 * which has no admin code of its own, shows up with its depth, its weekly cap per account and its problem items, and
 * the operator's answers work on it. A queue defined by queue_define alone shows up the same way.
 */

const iso = (v: unknown) => (v === null ? null : new Date(v as string).toISOString());

interface InvitationInput {
  status?: string;
  attempted_at?: string | null;
  sent_at?: string | null;
  send_at?: string;
  last_error?: string | null;
  recipient_id?: string;
}

async function insertInvitation(db: Db, accountId: string, input: InvitationInput = {}): Promise<string> {
  const [row] = await sql<{ id: string }>(
    db,
    `insert into invitations (account_id, recipient_id, message, send_at, status, attempted_at, sent_at, last_error,
                              attempts)
     values ($1, $2, 'Hi, let us connect', $3, $4, $5, $6, $7, case when $4 = 'pending' then 0 else 1 end)
     returning id`,
    [
      accountId,
      input.recipient_id ?? 'member-1',
      input.send_at ?? '2026-11-01T00:00:00Z',
      input.status ?? 'pending',
      input.attempted_at ?? null,
      input.sent_at ?? null,
      input.last_error ?? null,
    ],
  );
  return row!.id;
}

const usageOf = (o: AdminOverview, account: string, queue: string) =>
  o.accounts.find((a) => a.id === account)?.usage.find((u) => u.queue === queue);

describe('QUEUE_NAME (what the item actions accept as a kind)', () => {
  test.each([
    ['dm', true],
    ['invitation', true],
    ['follow_up2', true],
    ['', false],
    ['DM', false],
    ['2dm', false],
    ['dm;drop table accounts', false],
    ['a'.repeat(32), false],
  ])('%j → %s', (name, ok) => {
    expect(QUEUE_NAME.test(name)).toBe(ok);
  });
});

forEachEngine('admin SQL over every queue', (ctx) => {
  const NOW = new Date('2026-12-02T12:00:00Z');

  test('a failed invitation is a problem of kind invitation; retry, cancel and mark sent work, twice harmlessly', async () => {
    const account = await insertAccount(ctx.db, { name: 'invites' });
    const failed = await insertInvitation(ctx.db, account, {
      status: 'failed',
      last_error: 'gave up',
      recipient_id: 'm-9',
    });
    const uncertain = await insertInvitation(ctx.db, account, {
      status: 'uncertain',
      attempted_at: '2026-12-01T08:00:00Z',
    });
    const sending = await insertInvitation(ctx.db, account, {
      status: 'sending',
      attempted_at: '2026-12-02T11:59:00Z',
    });

    const o = await adminOverview(ctx.db, { jobs: [], now: NOW });
    const mine = o.problems.filter((p) => p.account === 'invites');
    expect(mine.map((p) => [p.kind, p.id, p.status])).toEqual([
      ['invitation', uncertain, 'uncertain'],
      ['invitation', failed, 'failed'],
    ]);
    expect(mine[1]).toMatchObject({ target: 'm-9', preview: 'Hi, let us connect', lastError: 'gave up' });
    expect(o.queues.find((q) => q.queue === 'invitation')).toMatchObject({
      table: 'invitations',
      waitingStatus: 'pending',
      doneStatus: 'sent',
      capPeriod: 'week',
      active: 1,
      uncertain: 1,
      failed: 1,
    });

    const item = (id: string) => ({ kind: 'invitation', id });
    expect(await resolveItem(ctx.db, 'retry', item(failed), NOW)).toEqual({ ok: true, status: 'pending' });
    expect(await resolveItem(ctx.db, 'retry', item(failed), NOW)).toEqual({
      ok: false,
      reason: 'only a failed or uncertain item can be retried (it is pending)',
    });
    const [retried] = await sql(
      ctx.db,
      'select status, attempts, next_attempt_at, attempted_at, failed_at, run_id, last_error from invitations where id = $1',
      [failed],
    );
    expect(retried).toMatchObject({ status: 'pending', attempts: 0, next_attempt_at: null, attempted_at: null });
    expect(retried!.last_error).toBe('retried by the operator at 2026-12-02T12:00:00Z; before: gave up');

    expect(await resolveItem(ctx.db, 'cancel', item(failed), NOW)).toEqual({ ok: true, status: 'cancelled' });
    expect(await resolveItem(ctx.db, 'cancel', item(failed), NOW)).toEqual({
      ok: false,
      reason: 'only a queued, failed or uncertain item can be cancelled (it is cancelled)',
    });
    expect(await resolveItem(ctx.db, 'cancel', item(sending), NOW)).toMatchObject({ ok: false });

    expect(await resolveItem(ctx.db, 'mark-sent', item(uncertain), NOW)).toEqual({ ok: true, status: 'sent' });
    expect(await resolveItem(ctx.db, 'mark-sent', item(uncertain), NOW)).toEqual({
      ok: false,
      reason: 'only a failed or uncertain item can be marked sent (it is sent)',
    });
    const [sent] = await sql(ctx.db, 'select sent_at, last_error from invitations where id = $1', [uncertain]);
    // It counts in the week its send started, not when the operator looked.
    expect(iso(sent!.sent_at)).toBe('2026-12-01T08:00:00.000Z');
    expect(sent!.last_error).toBe('marked sent by the operator at 2026-12-02T12:00:00Z');

    const [rows] = await sql(ctx.db, 'select status from invitations where id = $1', [sending]);
    expect(rows).toEqual({ status: 'sending' });
    const after = await adminOverview(ctx.db, { jobs: [], now: NOW });
    expect(after.problems.filter((p) => p.account === 'invites')).toEqual([]);
    expect(usageOf(after, account, 'invitation')).toMatchObject({ used: 2, period: 'week' }); // sending + marked sent
  });

  test('posts: a problem has no target but its scheduled time; cancel works from draft, never from published', async () => {
    const account = await insertAccount(ctx.db, { name: 'poster' });
    const rows = await sql<{ id: string; content: string }>(
      ctx.db,
      `insert into posts (account_id, content, scheduled_for, status) values
         ($1, 'failed one', '2026-12-01T09:00:00Z', 'failed'), ($1, 'draft one', null, 'draft'),
         ($1, 'published one', '2026-12-01T08:00:00Z', 'published')
       returning id, content`,
      [account],
    );
    const id = (content: string) => rows.find((r) => r.content === content)!.id;
    const o = await adminOverview(ctx.db, { jobs: [], now: NOW });
    const [problem] = o.problems.filter((p) => p.account === 'poster');
    expect(problem).toMatchObject({ kind: 'post', id: id('failed one'), target: null, preview: 'failed one' });
    expect(iso(problem!.dueAt)).toBe('2026-12-01T09:00:00.000Z');
    expect(await resolveItem(ctx.db, 'cancel', { kind: 'post', id: id('draft one') }, NOW)).toEqual({
      ok: true,
      status: 'cancelled',
    });
    expect(await resolveItem(ctx.db, 'cancel', { kind: 'post', id: id('published one') }, NOW)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/\(it is published\)$/),
    });
    expect(await resolveItem(ctx.db, 'mark-sent', { kind: 'post', id: id('failed one') }, NOW)).toEqual({
      ok: true,
      status: 'published',
    });
  });

  test('kinds that are not account-keyed queues are refused, and touch nothing', async () => {
    for (const kind of ['sms', 'sync', 'webhook']) {
      expect(await resolveItem(ctx.db, 'retry', { kind, id: '00000000-0000-4000-8000-000000000000' }, NOW)).toEqual({
        ok: false,
        reason: `unknown kind ${kind}`,
      });
    }
    expect(
      await resolveItem(ctx.db, 'cancel', { kind: 'invitation', id: '00000000-0000-4000-8000-000000000000' }, NOW),
    ).toMatchObject({ ok: false, reason: expect.stringMatching(/\(it is gone\)$/) });
  });

  // 2026-11-30 10:30 UTC: Tuesday 00:30 on Kiritimati (UTC+14), in the week of Mon 30 Nov there since
  // 2026-11-29 10:00 UTC; still Sunday 23:30 in Pago Pago (UTC−11), whose week began Mon 23 Nov 00:00 = 11:00 UTC.
  test.each([
    {
      zone: 'Pacific/Kiritimati',
      now: '2026-11-30T10:30:00Z',
      localPeriodStart: '2026-11-30',
      rows: [
        { status: 'sent', attempted_at: '2026-11-29T09:59:59Z', sent_at: '2026-11-29T10:00:01Z', counts: false },
        { status: 'sent', attempted_at: '2026-11-29T10:00:00Z', sent_at: '2026-11-29T10:00:02Z', counts: true },
        { status: 'sending', attempted_at: '2026-11-30T10:00:00Z', counts: true },
        { status: 'uncertain', attempted_at: '2026-11-30T09:00:00Z', counts: true },
        // Imported history: inserted as sent with only sent_at; it counts when it was sent.
        { status: 'sent', sent_at: '2026-11-30T01:00:00Z', counts: true },
        { status: 'sent', sent_at: '2026-11-29T09:00:00Z', counts: false },
        { status: 'failed', attempted_at: '2026-11-30T09:30:00Z', counts: false },
        { status: 'cancelled', attempted_at: '2026-11-30T09:30:00Z', counts: false },
      ],
    },
    {
      zone: 'Pacific/Pago_Pago',
      now: '2026-11-30T10:30:00Z',
      localPeriodStart: '2026-11-23',
      rows: [
        { status: 'sent', attempted_at: '2026-11-23T10:59:59Z', sent_at: '2026-11-23T11:00:01Z', counts: false },
        { status: 'sent', attempted_at: '2026-11-23T11:00:00Z', sent_at: '2026-11-23T11:00:01Z', counts: true },
        { status: 'uncertain', attempted_at: '2026-11-28T00:00:00Z', counts: true },
        { status: 'sent', sent_at: '2026-11-30T10:29:00Z', counts: true },
        { status: 'sent', sent_at: '2026-11-23T10:00:00Z', counts: false },
        { status: 'failed', attempted_at: '2026-11-29T00:00:00Z', counts: false },
      ],
    },
  ])('weekly invitation usage in $zone counts its local week (Monday 00:00), as the claim does', async (c) => {
    const now = new Date(c.now);
    const account = await insertAccount(ctx.db, { name: `week ${c.zone}`, timezone: c.zone });
    for (const r of c.rows) await insertInvitation(ctx.db, account, r);
    const used = c.rows.filter((r) => r.counts).length;
    // Room for exactly two more this week: the claim must agree with the page.
    await sql(ctx.db, 'update accounts set invite_weekly_limit = $2 where id = $1', [account, used + 2]);
    for (let i = 0; i < 5; i++) await insertInvitation(ctx.db, account, { send_at: '2026-11-01T00:00:00Z' });

    const before = usageOf(await adminOverview(ctx.db, { jobs: [], now }), account, 'invitation');
    expect(before).toEqual({
      queue: 'invitation',
      limit: used + 2,
      period: 'week',
      localPeriodStart: c.localPeriodStart,
      used,
      resumeAt: null,
    });

    const claimed = await sql<{ account_id: string }>(
      ctx.db,
      'select account_id from claim_due_invitations(100, 60, null, $1) where account_id = $2',
      [now.toISOString(), account],
    );
    expect(claimed).toHaveLength(2);
    const after = usageOf(await adminOverview(ctx.db, { jobs: [], now }), account, 'invitation');
    expect(after).toMatchObject({ used: used + 2, limit: used + 2 });
    // Cap reached: the claim parked the account until the week ends (or 5 minutes, whichever is sooner).
    expect(iso(after!.resumeAt)).toBe(new Date(now.getTime() + 5 * 60_000).toISOString());
  });

  test('DM daily usage is unchanged: each account’s own calendar day, invitations not counted', async () => {
    const now = new Date('2026-11-30T10:30:00Z');
    const kiritimati = await insertAccount(ctx.db, { name: 'day kiritimati', timezone: 'Pacific/Kiritimati' });
    const pagoPago = await insertAccount(ctx.db, {
      name: 'day pago',
      timezone: 'Pacific/Pago_Pago',
      dm_daily_limit: 7,
    });
    // 10:30 UTC is 00:30 on Tuesday 1 Dec on Kiritimati (that day began 2026-11-30 10:00 UTC) and 23:30 on Sunday
    // 29 Nov in Pago Pago (that day began 2026-11-29 11:00 UTC).
    const at = (t: string) => ({ status: 'sent', attempted_at: new Date(t), sent_at: new Date(t) });
    await insertDms(ctx.db, kiritimati, 2, at('2026-11-30T10:00:00Z'));
    await insertDms(ctx.db, kiritimati, 1, at('2026-11-30T09:59:59Z'));
    await insertDms(ctx.db, pagoPago, 3, at('2026-11-29T11:00:00Z'));
    await insertDms(ctx.db, pagoPago, 1, at('2026-11-29T10:59:59Z'));
    await insertDms(ctx.db, pagoPago, 1, { status: 'uncertain', attempted_at: new Date('2026-11-30T10:00:00Z') });
    await insertInvitation(ctx.db, pagoPago, { status: 'sent', attempted_at: '2026-11-30T10:00:00Z' });

    const o = await adminOverview(ctx.db, { jobs: [], now });
    expect(usageOf(o, kiritimati, 'dm')).toEqual({
      queue: 'dm',
      limit: 25,
      period: 'day',
      localPeriodStart: '2026-12-01',
      used: 2,
      resumeAt: null,
    });
    expect(usageOf(o, pagoPago, 'dm')).toMatchObject({ limit: 7, localPeriodStart: '2026-11-29', used: 4 });
    expect(o.accounts.find((a) => a.id === pagoPago)).toMatchObject({ localDay: '2026-11-29' });
    expect(usageOf(o, pagoPago, 'invitation')).toMatchObject({ used: 1, localPeriodStart: '2026-11-23' });
    // Posts have no cap, so no usage entry.
    expect(usageOf(o, pagoPago, 'post')).toBeUndefined();
  });

  test('a queue defined by queue_define alone shows up on the overview and takes the operator’s answers', async () => {
    await sql(
      ctx.db,
      `alter table accounts add column follow_up_resume_at timestamptz, add column follow_up_checked_at timestamptz,
                            add column follow_up_daily_limit integer not null default 3`,
    );
    await sql(
      ctx.db,
      `create table follow_ups (
         id uuid primary key default gen_random_uuid(),
         account_id uuid not null references accounts (id),
         recipient_id text not null, note text not null,
         send_at timestamptz not null default now(),
         status text not null default 'queued', attempts integer not null default 0, next_attempt_at timestamptz,
         last_error text, done_at timestamptz, attempted_at timestamptz, lease_until timestamptz,
         failed_at timestamptz, run_id uuid,
         due_at timestamptz generated always as (greatest(send_at, next_attempt_at)) stored,
         updated_at timestamptz not null default now())`,
    );
    await sql(
      ctx.db,
      `select queue_define(p_queue => 'follow_up', p_item_table => 'follow_ups', p_plural => 'follow_ups',
                           p_singular => 'follow_up', p_waiting_status => 'queued', p_active_status => 'working',
                           p_done_status => 'done', p_done_at_column => 'done_at',
                           p_payload_columns => array['recipient_id', 'note'], p_done_columns => '{}',
                           p_resume_column => 'follow_up_resume_at', p_checked_column => 'follow_up_checked_at',
                           p_cap_limit_column => 'follow_up_daily_limit', p_cap_period => 'day')`,
    );
    const account = await insertAccount(ctx.db, { name: 'follow' });
    const [row] = await sql<{ id: string }>(
      ctx.db,
      `insert into follow_ups (account_id, recipient_id, note, status, attempted_at) values
         ($1, 'x', 'ping', 'uncertain', $2) returning id`,
      [account, '2026-12-02T09:00:00Z'],
    );

    const o = await adminOverview(ctx.db, { jobs: [], now: NOW });
    expect(o.queues.at(-1)).toMatchObject({ queue: 'follow_up', table: 'follow_ups', uncertain: 1, capPeriod: 'day' });
    expect(o.problems.find((p) => p.id === row!.id)).toMatchObject({ kind: 'follow_up', target: 'x', preview: 'ping' });
    expect(usageOf(o, account, 'follow_up')).toMatchObject({ used: 1, limit: 3, localPeriodStart: '2026-12-02' });
    expect(await resolveItem(ctx.db, 'mark-sent', { kind: 'follow_up', id: row!.id }, NOW)).toEqual({
      ok: true,
      status: 'done',
    });
  });
});
