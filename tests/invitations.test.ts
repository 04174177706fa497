import { describe, expect, test } from 'vitest';
import { invitationsJob } from '../jobs/invitations.ts';
import { PermanentError, RetryableError, UncertainError } from '../lib/cron/errors.ts';
import { runJob } from '../lib/cron/run.ts';
import { openPostgres } from '../lib/db/postgres.ts';
import type { Db } from '../lib/db/types.ts';
import { AccountError } from '../lib/providers/errors.ts';
import { setProvider } from '../lib/providers/index.ts';
import { forEachEngine, freshDb, serverAvailable, sql } from './helpers/db.ts';
import { fakeProvider } from './helpers/fake-provider.ts';
import { insertAccount, statusCounts } from './helpers/fixtures.ts';

/** The invitations queue: a queue written by queue_define with a weekly cap, tested like the DM queue. */

async function insertInvitations(
  db: Db,
  accountId: string,
  count: number,
  input: { recipientPrefix?: string; sendAt?: Date; message?: string | null } = {},
): Promise<string[]> {
  const rows = await sql<{ id: string }>(
    db,
    `insert into invitations (account_id, recipient_id, message, send_at)
     select $1, $2 || g, $3, $4 from generate_series(1, $5::int) g returning id`,
    [
      accountId,
      input.recipientPrefix ?? `ACoA-${accountId.slice(0, 8)}-`,
      input.message === undefined ? 'Hi, let us connect' : input.message,
      (input.sendAt ?? new Date('2026-01-01T00:00:00Z')).toISOString(),
      count,
    ],
  );
  return rows.map((r) => r.id);
}

const setWeeklyLimit = (db: Db, id: string, limit: number) =>
  sql(db, 'update accounts set invite_weekly_limit = $2 where id = $1', [id, limit]);

const run = (db: Db, at: Date, budgetMs = 10_000) =>
  runJob(invitationsJob, { db, trigger: 'manual', budgetMs, now: () => at });

forEachEngine('invitations job', (ctx) => {
  const reset = () => sql(ctx.db, 'truncate accounts, invitations, job_runs, cron_state cascade');

  test.each([
    // Monday 2026-12-07 00:00 local, in UTC: +14 h is the Sunday before at 10:00, −11 h the Monday at 11:00.
    ['Pacific/Kiritimati', '2026-12-06T10:00:00Z'],
    ['Pacific/Pago_Pago', '2026-12-07T11:00:00Z'],
  ])('the weekly cap counts the local week of %s, which starts Monday 00:00 local (%s)', async (timezone, monday) => {
    await reset();
    const mondayAt = Date.parse(monday);
    const a = await insertAccount(ctx.db, { timezone });
    await setWeeklyLimit(ctx.db, a, 3);
    // Imported history: sent last week (does not count) and earlier this week... of the previous local week.
    await sql(
      ctx.db,
      `insert into invitations (account_id, recipient_id, status, sent_at) values ($1, 'old-1', 'sent', $2), ($1, 'old-2', 'sent', $3)`,
      [a, new Date(mondayAt - 8 * 86_400_000).toISOString(), new Date(mondayAt - 60_000).toISOString()],
    );
    await insertInvitations(ctx.db, a, 10);
    const provider = fakeProvider();
    setProvider(provider);
    try {
      // Sunday 23:30 local: the imported row one minute before Monday counts, so 2 are left this week.
      expect(await run(ctx.db, new Date(mondayAt - 30 * 60_000))).toMatchObject({ succeeded: 2 });
      expect(await run(ctx.db, new Date(mondayAt - 60_000))).toMatchObject({ claimed: 0 });
      // Monday 00:00 local: a new week, a full cap.
      expect(await run(ctx.db, new Date(mondayAt))).toMatchObject({ succeeded: 3 });
      expect(await run(ctx.db, new Date(mondayAt + 6 * 86_400_000))).toMatchObject({ claimed: 0 });
      // The Monday after: three more.
      expect(await run(ctx.db, new Date(mondayAt + 7 * 86_400_000))).toMatchObject({ succeeded: 3 });
      expect(provider.invitations).toHaveLength(8);
      expect(await statusCounts(ctx.db, 'invitations')).toEqual({ sent: 10, pending: 2 });
    } finally {
      setProvider(undefined);
    }
  });

  test('across a DST change the week still starts at local Monday 00:00 (Europe/Berlin, October 2026)', async () => {
    await reset();
    // Summer time ends Sunday 25 October 2026 at 03:00 CEST; Monday 26 October 00:00 CET is 25 October 23:00 UTC.
    const [w] = await sql<{ starts: string; ends: string }>(
      ctx.db,
      `select starts, ends from queue_window('Europe/Berlin', 'week', '2026-10-25T22:59:00Z')`,
    );
    expect(new Date(w!.starts).toISOString()).toBe('2026-10-18T22:00:00.000Z'); // Monday 19 October 00:00 CEST
    expect(new Date(w!.ends).toISOString()).toBe('2026-10-25T23:00:00.000Z');
    const a = await insertAccount(ctx.db, { timezone: 'Europe/Berlin' });
    await setWeeklyLimit(ctx.db, a, 2);
    await insertInvitations(ctx.db, a, 5);
    setProvider(fakeProvider());
    try {
      expect(await run(ctx.db, new Date('2026-10-25T22:00:00Z'))).toMatchObject({ succeeded: 2 });
      expect(await run(ctx.db, new Date('2026-10-25T22:59:00Z'))).toMatchObject({ claimed: 0 });
      expect(await run(ctx.db, new Date('2026-10-25T23:00:00Z'))).toMatchObject({ succeeded: 2 });
    } finally {
      setProvider(undefined);
    }
  });

  test('each error class lands where it should; one bad item never stops the batch', async () => {
    await reset();
    const now = new Date('2026-03-10T12:00:00Z');
    const a = await insertAccount(ctx.db);
    const limited = await insertAccount(ctx.db);
    const gone = await insertAccount(ctx.db);
    const noProvider = await insertAccount(ctx.db, { unipile_account_id: null });
    for (const prefix of ['ok-', 'pending-', 'busy-', 'maybe-'])
      await insertInvitations(ctx.db, a, 1, { recipientPrefix: prefix });
    await insertInvitations(ctx.db, limited, 3, { recipientPrefix: 'limited-' });
    await insertInvitations(ctx.db, gone, 2, { recipientPrefix: 'gone-' });
    await insertInvitations(ctx.db, noProvider, 1);
    setProvider(
      fakeProvider({
        behaveInvitation: (input) => {
          if (input.providerId.startsWith('pending'))
            return new PermanentError('An invitation has already been sent recently to this recipient', {
              code: 'errors/already_invited_recently',
            });
          if (input.providerId.startsWith('busy'))
            return new RetryableError('provider error', { code: 'errors/provider_error' });
          if (input.providerId.startsWith('maybe'))
            return new UncertainError('gateway timeout', { code: 'errors/request_timeout' });
          if (input.providerId.startsWith('limited'))
            return new RetryableError('too many requests', {
              code: 'errors/too_many_requests',
              retryAfterMs: 3_600_000,
              cooldownKey: true,
            });
          if (input.providerId.startsWith('gone'))
            return new AccountError('disconnected', {
              code: 'errors/disconnected_account',
              accountStatus: 'disconnected',
            });
          return undefined;
        },
      }),
    );
    // Concurrency 1: the limited account's second and third invitation see the 429 of its first.
    process.env.INVITE_CONCURRENCY = '1';
    try {
      const summary = await run(ctx.db, now);
      expect(summary).toMatchObject({ status: 'ok', succeeded: 1, failed: 1, uncertain: 1 });
    } finally {
      delete process.env.INVITE_CONCURRENCY;
      setProvider(undefined);
    }
    const rows = await sql<{
      recipient_id: string;
      status: string;
      attempts: number;
      last_error: string | null;
      next_attempt_at: string | null;
      provider_invitation_id: string | null;
    }>(
      ctx.db,
      'select recipient_id, status, attempts, last_error, next_attempt_at, provider_invitation_id from invitations',
    );
    const by = (r: string) => rows.find((x) => x.recipient_id === r)!;
    expect(by('ok-1')).toMatchObject({ status: 'sent', provider_invitation_id: expect.stringMatching(/^inv-\d+$/) });
    expect(by('pending-1')).toMatchObject({
      status: 'failed',
      last_error: 'errors/already_invited_recently: An invitation has already been sent recently to this recipient',
    });
    expect(by('busy-1')).toMatchObject({
      status: 'pending',
      attempts: 1,
      last_error: 'errors/provider_error: provider error',
    });
    expect(Date.parse(by('busy-1').next_attempt_at!) - now.getTime()).toBe(60_000);
    expect(by('maybe-1')).toMatchObject({ status: 'uncertain' });
    // The 429: that invitation waits for Retry-After; the account rests as long; its others were not tried.
    const limitedRows = rows.filter((r) => r.recipient_id.startsWith('limited-'));
    const tried = limitedRows.filter((r) => r.attempts === 1);
    expect(tried).toHaveLength(1);
    expect(Date.parse(tried[0]!.next_attempt_at!) - now.getTime()).toBe(3_600_000);
    expect(limitedRows.every((r) => r.status === 'pending')).toBe(true);
    const accounts = await sql<{
      id: string;
      status: string;
      status_reason: string | null;
      invite_resume_at: string | null;
    }>(ctx.db, 'select id, status, status_reason, invite_resume_at from accounts');
    const acct = (id: string) => accounts.find((x) => x.id === id)!;
    expect(Date.parse(acct(limited).invite_resume_at!) - now.getTime()).toBe(3_600_000);
    expect(acct(gone)).toMatchObject({
      status: 'disconnected',
      status_reason: 'errors/disconnected_account: disconnected',
    });
    expect(acct(noProvider)).toMatchObject({
      status: 'paused',
      status_reason: expect.stringMatching(/missing_provider_account/),
    });
    // Account-level failures keep their invitations, with no attempt spent.
    expect(
      rows.filter((r) => r.recipient_id.startsWith('gone-')).every((r) => r.status === 'pending' && r.attempts === 0),
    ).toBe(true);
  });

  test('reaper: an expired sending lease becomes uncertain and is never re-sent', async () => {
    await reset();
    const now = new Date('2026-03-10T12:00:00Z');
    const a = await insertAccount(ctx.db);
    await insertInvitations(ctx.db, a, 2);
    // A run that died after claiming: the rows are 'sending' with a lease.
    const claimed = await ctx.db.rpc('claim_due_invitations', {
      p_limit: 10,
      p_lease_seconds: 90,
      p_run_id: '00000000-0000-4000-8000-0000000000dd',
      p_now: now,
    });
    expect(claimed).toHaveLength(2);
    const provider = fakeProvider();
    setProvider(provider);
    try {
      expect(await run(ctx.db, new Date(now.getTime() + 89_000))).toMatchObject({ claimed: 0, details: { reaped: 0 } });
      expect(await run(ctx.db, new Date(now.getTime() + 90_000))).toMatchObject({ claimed: 0, details: { reaped: 2 } });
    } finally {
      setProvider(undefined);
    }
    expect(provider.invitations).toHaveLength(0);
    const rows = await sql<{ status: string; last_error: string }>(
      ctx.db,
      'select status, last_error from invitations',
    );
    expect(
      rows.every((r) => r.status === 'uncertain' && /lease expired .* not re-sent automatically/.test(r.last_error)),
    ).toBe(true);
  });

  test('a note over 300 characters is refused at insert; no note is fine', async () => {
    await reset();
    const a = await insertAccount(ctx.db);
    await expect(insertInvitations(ctx.db, a, 1, { message: 'x'.repeat(301) })).rejects.toMatchObject({
      code: '23514',
      message: expect.stringMatching(/invitations_message_max_300/),
    });
    expect(await insertInvitations(ctx.db, a, 1, { message: null })).toHaveLength(1);
    const provider = fakeProvider();
    setProvider(provider);
    try {
      await run(ctx.db, new Date('2026-03-10T12:00:00Z'));
    } finally {
      setProvider(undefined);
    }
    expect(provider.invitations).toMatchObject([{ message: null }]);
  });
});

describe.runIf(serverAvailable('invitations under concurrency [postgres]'))(
  'invitations under concurrency [postgres]',
  () => {
    test('10 concurrent runs over 1,500 invitations across 50 weekly-capped accounts: no duplicate, no cap exceeded', async () => {
      const { db, url, dispose } = await freshDb('postgres');
      const runners: Db[] = [];
      try {
        const caps: Record<string, number> = {};
        for (let i = 0; i < 50; i++) {
          const cap = 10 + (i % 5) * 5; // 10..30 against 30 each
          const id = await insertAccount(db, { timezone: i % 2 ? 'Pacific/Kiritimati' : 'Pacific/Pago_Pago' });
          await setWeeklyLimit(db, id, cap);
          caps[id] = cap;
          await insertInvitations(db, id, 30);
        }
        const provider = fakeProvider({ latencyMs: 2 });
        setProvider(provider);
        for (let i = 0; i < 10; i++) runners.push(openPostgres(url!, { max: 3 }));
        const summaries = await Promise.all(
          runners.map((r) => runJob(invitationsJob, { db: r, trigger: 'manual', budgetMs: 30_000 })),
        );
        setProvider(undefined);
        const sent = provider.invitations.map((s) => `${s.accountId}/${s.providerId}`);
        expect(new Set(sent).size).toBe(sent.length); // no invitation sent twice
        const expected = Object.values(caps).reduce((sum, cap) => sum + cap, 0);
        expect(sent.length).toBe(expected);
        const perAccount = await sql<{ account_id: string; sent: number; pending: number }>(
          db,
          `select account_id, count(*) filter (where status = 'sent')::int as sent,
                count(*) filter (where status = 'pending')::int as pending
           from invitations group by account_id`,
        );
        for (const row of perAccount) {
          expect(row.sent).toBe(caps[row.account_id]); // the cap exactly: never exceeded, fully used
          expect(row.sent + row.pending).toBe(30);
        }
        expect(summaries.reduce((n, s) => n + s.succeeded, 0)).toBe(expected);
      } finally {
        setProvider(undefined);
        await Promise.all(runners.map((r) => r.close()));
        await dispose();
      }
    });
  },
);
