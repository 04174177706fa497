import { describe, expect, test } from 'vitest';
import { dmQueue } from '../jobs/dm-queue.ts';
import { PermanentError, RetryableError, UncertainError } from '../lib/cron/errors.ts';
import { runJob } from '../lib/cron/run.ts';
import { openPostgres } from '../lib/db/postgres.ts';
import type { Db } from '../lib/db/types.ts';
import { AccountError } from '../lib/providers/errors.ts';
import { setProvider } from '../lib/providers/index.ts';
import { forEachEngine, freshDb, serverAvailable, sql } from './helpers/db.ts';
import { fakeProvider } from './helpers/fake-provider.ts';
import { insertAccount, insertDms, statusCounts } from './helpers/fixtures.ts';
import { forbidInLogs } from './helpers/logs.ts';

const BODY = 'confidential body text';
forbidInLogs(BODY);

forEachEngine('dm-queue job', (ctx) => {
  const reset = () => sql(ctx.db, 'truncate accounts, dm_queue, job_runs, cron_state cascade');

  test('budget: against a provider that hangs, the run returns within budget + 1 s; started DMs are uncertain, the rest pending', async () => {
    await reset();
    const a = await insertAccount(ctx.db, { dm_daily_limit: 500 });
    await insertDms(ctx.db, a, 200, { body: BODY });
    const provider = fakeProvider({ hang: true, timeoutMs: 1_000 });
    setProvider(provider);
    const budgetMs = 3_000;
    const started = Date.now();
    const summary = await runJob(dmQueue, { db: ctx.db, trigger: 'manual', budgetMs });
    const took = Date.now() - started;
    setProvider(undefined);
    expect(took).toBeLessThan(budgetMs + 1_000);
    expect(summary.status).toBe('partial');
    const counts = await statusCounts(ctx.db);
    expect(counts.uncertain).toBe(provider.sends.length);
    expect(counts.uncertain).toBeGreaterThan(0);
    expect(counts.pending).toBe(200 - provider.sends.length);
    expect(counts.sending ?? 0).toBe(0);
    expect(summary).toMatchObject({ uncertain: provider.sends.length, hasMore: true });
  });

  test('each error class lands where it should, one bad item never stops the batch', async () => {
    await reset();
    const a = await insertAccount(ctx.db, { dm_daily_limit: 100 });
    const gone = await insertAccount(ctx.db, { dm_daily_limit: 100 });
    const noProvider = await insertAccount(ctx.db, { unipile_account_id: null });
    for (const r of ['ok-1', 'invalid-1', 'busy-1', 'maybe-1', 'ok-2'])
      await insertDms(ctx.db, a, 1, { recipient_id: r });
    await insertDms(ctx.db, gone, 2);
    await insertDms(ctx.db, noProvider, 1);
    const goneProvider = (
      await sql<{ unipile_account_id: string }>(ctx.db, 'select unipile_account_id from accounts where id = $1', [gone])
    )[0]!.unipile_account_id;
    setProvider(
      fakeProvider({
        behave: (input) => {
          if (input.accountId === goneProvider)
            return new AccountError('disconnected', {
              code: 'errors/disconnected_account',
              accountStatus: 'disconnected',
            });
          if (input.recipientId.startsWith('invalid'))
            return new PermanentError('invalid recipient', { code: 'errors/invalid_recipient' });
          if (input.recipientId.startsWith('busy'))
            return new RetryableError('provider error', { code: 'errors/provider_error' });
          if (input.recipientId.startsWith('maybe'))
            return new UncertainError('gateway timeout', { code: 'errors/request_timeout' });
          return undefined;
        },
      }),
    );
    const summary = await runJob(dmQueue, { db: ctx.db, trigger: 'manual', budgetMs: 10_000 });
    setProvider(undefined);
    expect(summary).toMatchObject({ status: 'ok', succeeded: 2, failed: 1, retried: 1, uncertain: 1 });
    const rows = await sql<{ recipient_id: string; status: string; last_error: string | null }>(
      ctx.db,
      'select recipient_id, status, last_error from dm_queue where account_id = $1',
      [a],
    );
    const byRecipient = Object.fromEntries(rows.map((r) => [r.recipient_id, r]));
    expect(byRecipient['invalid-1']).toMatchObject({
      status: 'failed',
      last_error: 'errors/invalid_recipient: invalid recipient',
    });
    expect(byRecipient['busy-1']).toMatchObject({ status: 'pending' });
    expect(byRecipient['maybe-1']).toMatchObject({ status: 'uncertain' });
    const accounts = await sql<{ id: string; status: string; status_reason: string }>(
      ctx.db,
      'select id, status, status_reason from accounts',
    );
    expect(accounts.find((x) => x.id === gone)!.status).toBe('disconnected');
    expect(accounts.find((x) => x.id === noProvider)).toMatchObject({
      status: 'paused',
      status_reason: expect.stringMatching(/missing_provider_account/),
    });
    // The account-level failures kept their DMs, with no attempt spent.
    const waiting = await sql<{ status: string; attempts: number }>(
      ctx.db,
      'select status, attempts from dm_queue where account_id in ($1, $2)',
      [gone, noProvider],
    );
    expect(waiting.every((w) => w.status === 'pending' && w.attempts === 0)).toBe(true);
  });

  test('uncertain DMs are reconciled by a provider lookup when the message is found', async () => {
    await reset();
    const a = await insertAccount(ctx.db);
    await insertDms(ctx.db, a, 2, { body: BODY });
    const provider = fakeProvider({ behave: () => new UncertainError('timed out after sending', { code: 'timeout' }) });
    setProvider(provider);
    await runJob(dmQueue, { db: ctx.db, trigger: 'manual', budgetMs: 10_000 });
    // The fake "remembers" both sends, so the lookup (an hour later) finds them.
    const later = new Date(Date.now() + 2 * 3600_000);
    const summary = await runJob(dmQueue, { db: ctx.db, trigger: 'manual', budgetMs: 10_000, now: () => later });
    setProvider(undefined);
    expect(summary.details?.reconciled).toBe(2);
    expect(await statusCounts(ctx.db)).toEqual({ sent: 2 });
  });

  test('a DM the lookup found sent keeps no error of the attempt as its current error', async () => {
    await reset();
    const a = await insertAccount(ctx.db);
    await insertDms(ctx.db, a, 1, { body: BODY });
    setProvider(fakeProvider({ behave: () => new UncertainError('timed out after sending', { code: 'timeout' }) }));
    await runJob(dmQueue, { db: ctx.db, trigger: 'manual', budgetMs: 10_000 });
    const [uncertain] = await sql<{ last_error: string | null }>(ctx.db, 'select last_error from dm_queue');
    expect(uncertain!.last_error).toMatch(/timeout/);
    const later = new Date(Date.now() + 2 * 3600_000);
    await runJob(dmQueue, { db: ctx.db, trigger: 'manual', budgetMs: 10_000, now: () => later });
    setProvider(undefined);
    const [sent] = await sql<{ status: string; last_error: string | null }>(
      ctx.db,
      'select status, last_error from dm_queue',
    );
    expect(sent).toEqual({ status: 'sent', last_error: null });
  });

  test('one LinkedIn account, one cap: a second connected row with the same unipile_account_id is refused at insert', async () => {
    await reset();
    const first = await insertAccount(ctx.db, { unipile_account_id: 'prov-shared', dm_daily_limit: 10 });
    await insertDms(ctx.db, first, 20);
    const second = await insertAccount(ctx.db, { unipile_account_id: 'prov-shared', dm_daily_limit: 10 }).catch(
      (e: unknown) => e,
    );
    // Before the fix the second row was accepted and got a cap of its own: feed it too, so the job shows the harm.
    if (typeof second === 'string') await insertDms(ctx.db, second, 20);
    const provider = fakeProvider();
    setProvider(provider);
    await runJob(dmQueue, { db: ctx.db, trigger: 'manual', budgetMs: 10_000 });
    setProvider(undefined);
    expect(provider.sends.filter((s) => s.accountId === 'prov-shared').length).toBe(10);
    expect(second).toMatchObject({
      code: '23505',
      message: expect.stringContaining('accounts_one_connected_row_per_unipile_account'),
    });
  });

  test('one LinkedIn account, one cap: a disconnected row may share the id, reconnecting it while another is connected is refused', async () => {
    await reset();
    const old = await insertAccount(ctx.db, { unipile_account_id: 'prov-again', status: 'disconnected' });
    // The usual flow: the old row was disconnected, the operator connects the LinkedIn account again as a new row.
    const current = await insertAccount(ctx.db, { unipile_account_id: 'prov-again' });
    const refused = await sql(ctx.db, "update accounts set status = 'active' where id = $1", [old]).catch(
      (e: unknown) => e,
    );
    expect(refused).toMatchObject({
      code: '23505',
      message: expect.stringContaining('accounts_one_connected_row_per_unipile_account'),
    });
    // Pausing is not disconnecting: a paused row still holds the id.
    await sql(ctx.db, "update accounts set status = 'paused' where id = $1", [current]);
    await expect(sql(ctx.db, "update accounts set status = 'active' where id = $1", [old])).rejects.toMatchObject({
      code: '23505',
    });
    // Once the other row is disconnected, the old one may come back; accounts without a provider id never conflict.
    await sql(ctx.db, "update accounts set status = 'disconnected' where id = $1", [current]);
    await sql(ctx.db, "update accounts set status = 'active' where id = $1", [old]);
    await insertAccount(ctx.db, { unipile_account_id: null });
    await insertAccount(ctx.db, { unipile_account_id: null });
    const rows = await sql<{ id: string; status: string }>(
      ctx.db,
      "select id, status from accounts where unipile_account_id = 'prov-again' order by id",
    );
    expect(Object.fromEntries(rows.map((r) => [r.id, r.status]))).toEqual({
      [old]: 'active',
      [current]: 'disconnected',
    });
  });

  test('reconciliation skips an account without a provider id and stamps only the DMs it looked up', async () => {
    await reset();
    const noProvider = await insertAccount(ctx.db, { unipile_account_id: null });
    const findable = await insertAccount(ctx.db, { unipile_account_id: 'prov-findable' });
    const t0 = new Date('2026-03-02T10:00:00Z');
    // The DMs without a provider account are the oldest, so the claim returns them first.
    await insertDms(ctx.db, noProvider, 3, {
      status: 'uncertain',
      attempted_at: new Date(t0.getTime() - 3 * 3600_000),
    });
    await insertDms(ctx.db, findable, 3, { status: 'uncertain', attempted_at: new Date(t0.getTime() - 3600_000) });
    const provider = fakeProvider();
    for (let g = 1; g <= 3; g++)
      provider.sends.push({ accountId: 'prov-findable', recipientId: `r-${g}`, text: `hello ${g}`, at: 0 });
    setProvider(provider);
    const summary = await runJob(dmQueue, { db: ctx.db, trigger: 'manual', budgetMs: 10_000, now: () => t0 });
    setProvider(undefined);
    expect(summary.details?.reconciled).toBe(3);
    const rows = await sql<{ account_id: string; status: string; checked: boolean }>(
      ctx.db,
      'select account_id, status, reconcile_checked_at is not null as checked from dm_queue',
    );
    expect(rows.filter((r) => r.account_id === findable).map((r) => r.status)).toEqual(['sent', 'sent', 'sent']);
    // Not looked up (no provider account to ask): still uncertain and not marked as checked.
    expect(rows.filter((r) => r.account_id === noProvider)).toEqual(
      Array(3).fill({ account_id: noProvider, status: 'uncertain', checked: false }),
    );
  });

  test('reconciliation: an uncertain DM whose lookup the budget did not allow is not marked as checked', async () => {
    await reset();
    const a = await insertAccount(ctx.db, { unipile_account_id: 'prov-slow' });
    const t0 = new Date('2026-03-02T10:00:00Z').getTime();
    await insertDms(ctx.db, a, 5, { status: 'uncertain', attempted_at: new Date(t0 - 3600_000) });
    // Each lookup takes 4 s of the run's clock; its worst case is 2 × 1 s + 1 s, so a 10 s budget allows 2 of 5.
    let clock = t0;
    const provider = {
      ...fakeProvider({ timeoutMs: 1_000 }),
      findSentMessage: async () => {
        clock += 4_000;
        return null;
      },
    };
    setProvider(provider);
    await runJob(dmQueue, { db: ctx.db, trigger: 'manual', budgetMs: 10_000, now: () => new Date(clock) });
    setProvider(undefined);
    const rows = await sql<{ checked: boolean; n: number }>(
      ctx.db,
      `select reconcile_checked_at is not null as checked, count(*)::int as n from dm_queue
        where status = 'uncertain' group by 1 order by 1`,
    );
    expect(rows).toEqual([
      { checked: false, n: 3 },
      { checked: true, n: 2 },
    ]);
  });
});

describe.runIf(serverAvailable('dm-queue under concurrency [postgres]'))(
  'dm-queue under concurrency [postgres]',
  () => {
    test('10 concurrent runs over 2,000 DMs across 50 capped accounts: no duplicate, no cap exceeded, every row accounted for', async () => {
      const { db, url, dispose } = await freshDb('postgres');
      const runners: Db[] = [];
      try {
        const caps: Record<string, number> = {};
        for (let i = 0; i < 50; i++) {
          const cap = 20 + (i % 5) * 5; // 20..40 against 40 DMs each
          const id = await insertAccount(db, {
            dm_daily_limit: cap,
            timezone: i % 2 ? 'Asia/Tokyo' : 'America/Los_Angeles',
          });
          caps[id] = cap;
          await sql(
            db,
            `insert into dm_queue (account_id, recipient_id, body) select $1::uuid, 'r-' || g, 'dm ' || $1::text || ' #' || g from generate_series(1, 40) g`,
            [id],
          );
        }
        const provider = fakeProvider({ latencyMs: 2 });
        setProvider(provider);
        for (let i = 0; i < 10; i++) runners.push(openPostgres(url!, { max: 3 }));
        const started = Date.now();
        const summaries = await Promise.all(
          runners.map((r) => runJob(dmQueue, { db: r, trigger: 'manual', budgetMs: 30_000 })),
        );
        const took = Date.now() - started;
        setProvider(undefined);

        const texts = provider.sends.map((s) => s.text);
        expect(new Set(texts).size).toBe(texts.length); // no DM sent twice
        const expectedSent = Object.values(caps).reduce((sum, cap) => sum + Math.min(cap, 40), 0);
        expect(texts.length).toBe(expectedSent);
        const perAccount = await sql<{ account_id: string; sent: number; pending: number; other: number }>(
          db,
          `select account_id, count(*) filter (where status = 'sent')::int as sent, count(*) filter (where status = 'pending')::int as pending,
                count(*) filter (where status not in ('sent', 'pending'))::int as other
           from dm_queue group by account_id`,
        );
        for (const row of perAccount) {
          expect(row.sent).toBe(caps[row.account_id]); // the cap, exactly: never exceeded, fully used
          expect(row.sent + row.pending).toBe(40); // every row accounted for
          expect(row.other).toBe(0);
        }
        expect(summaries.every((s) => s.status === 'ok')).toBe(true);
        expect(summaries.reduce((n, s) => n + s.succeeded, 0)).toBe(expectedSent);
        console.log(
          `[concurrency] 10 runs, 2,000 DMs, 50 accounts: ${expectedSent} sent, 0 duplicates, ${took} ms; per run succeeded: ${summaries.map((s) => s.succeeded).join(',')}`,
        );
      } finally {
        setProvider(undefined);
        await Promise.all(runners.map((r) => r.close()));
        await dispose();
      }
    });
  },
);
