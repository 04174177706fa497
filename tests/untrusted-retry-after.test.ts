import { HttpResponse, http } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { dmQueue } from '../jobs/dm-queue.ts';
import { webhooks } from '../jobs/webhooks.ts';
import { RetryableError } from '../lib/cron/errors.ts';
import { runJob } from '../lib/cron/run.ts';
import { setProvider } from '../lib/providers/index.ts';
import { createUnipileProvider } from '../lib/providers/unipile.ts';
import { deliverWebhook, setWebhookResolver } from '../lib/webhooks/deliver.ts';
import { newWebhookSecret } from '../lib/webhooks/queries.ts';
import { forEachEngine, sql } from './helpers/db.ts';
import { insertAccount, insertDms } from './helpers/fixtures.ts';

/**
 * Retry-After is untrusted input (issue 12, B2): a webhook receiver or Unipile answering 429 with an absurd
 * `Retry-After` must neither fail the settle of the batch it is in nor freeze a queue or an account for years. The
 * parsers cap it at 24 h (lib/http/retry-after.ts) and the settle functions bound it again per queue
 * (queue_policies.retry_after_max_seconds: 24 h, 6 h for webhooks). The reproductions below are the issue's own.
 */
const DSN = 'https://retry-after.unipile.test';
const HUGE = '99999999999999999999';
const YEAR_9999 = 'Fri, 31 Dec 9999 23:59:59 GMT';
const DAY_MS = 24 * 3600_000;
const WEBHOOK_MAX_WAIT_S = 6 * 3600;

const server = setupServer();
beforeAll(() => {
  server.listen({ onUnhandledFrame: 'error' });
  setWebhookResolver(async (host) => {
    if (host.endsWith('.test')) return [{ address: '203.0.113.20', family: 4 }];
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  });
});
afterEach(() => {
  server.resetHandlers();
  setProvider(undefined);
  for (const k of ['WEBHOOK_DISABLE_AFTER', 'JOB_MAX_ATTEMPTS']) delete process.env[k];
});
afterAll(() => {
  server.close();
  setWebhookResolver(undefined);
});

/** What the parsers must make of a Retry-After: ms, capped at 24 h, or nothing for garbage. */
const PARSED: { value: string; ms: number | undefined }[] = [
  { value: '120', ms: 120_000 },
  { value: HUGE, ms: DAY_MS },
  { value: '86401', ms: DAY_MS },
  { value: YEAR_9999, ms: DAY_MS },
  { value: '-5', ms: undefined },
  { value: 'soon 2', ms: undefined },
  { value: '1e5', ms: undefined },
  { value: 'Infinity', ms: undefined },
];

describe('Retry-After parsing at the edges (real HTTP through the providers)', () => {
  test.each(PARSED)('Unipile 429 with Retry-After $value → $ms', async ({ value, ms }) => {
    server.use(
      http.post(`${DSN}/api/v1/chats`, () =>
        HttpResponse.json(
          { status: 429, type: 'errors/too_many_requests', title: 'Too many requests' },
          { status: 429, headers: { 'retry-after': value } },
        ),
      ),
    );
    const unipile = createUnipileProvider({ dsn: DSN, apiKey: 'k', timeoutMs: 5_000 });
    const e = await unipile
      .sendMessage({ accountId: 'acc', recipientId: 'r', text: 'hello' }, new AbortController().signal)
      .then(
        () => null,
        (err: unknown) => err,
      );
    expect(e).toBeInstanceOf(RetryableError);
    expect((e as RetryableError).retryAfterMs).toBe(ms);
  });

  test.each(PARSED)('webhook receiver 429 with Retry-After $value → $ms', async ({ value, ms }) => {
    server.use(
      http.post(
        'https://receiver.test/ra',
        () => new HttpResponse(null, { status: 429, headers: { 'retry-after': value } }),
      ),
    );
    const e = await deliverWebhook(
      {
        id: crypto.randomUUID(),
        endpoint_id: crypto.randomUUID(),
        url: 'https://receiver.test/ra',
        secret: newWebhookSecret(),
        msg_id: 'msg_0123456789abcdef0123456789abcdef',
        event_type: 'dm.sent',
        payload: { type: 'dm.sent', timestamp: new Date().toISOString(), data: {} },
        attempts: 1,
      },
      { signal: AbortSignal.timeout(5_000), now: new Date(), allowPrivate: false },
    ).then(
      () => null,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(RetryableError);
    expect((e as RetryableError).retryAfterMs).toBe(ms);
  });
});

forEachEngine('untrusted Retry-After', (ctx) => {
  let clockMs = Date.now();
  const now = () => new Date(clockMs);
  beforeEach(async () => {
    await sql(ctx.db, 'truncate accounts, dm_queue, webhook_endpoints, job_runs, cron_state cascade');
    clockMs = Date.now();
  });

  test(`a receiver answering 429 with Retry-After: ${HUGE} among healthy endpoints: the batch settles, healthy endpoints get the event once in 4 runs, the bad one reaches the attempt limit and is disabled`, async () => {
    process.env.WEBHOOK_DISABLE_AFTER = '1';
    process.env.JOB_MAX_ATTEMPTS = '4';
    const hits: Record<string, number> = {};
    for (const path of ['ok-1', 'ok-2', 'bad']) {
      await sql(ctx.db, 'insert into webhook_endpoints (url, secret) values ($1, $2)', [
        `https://receiver.test/${path}`,
        newWebhookSecret(),
      ]);
      server.use(
        http.post(`https://receiver.test/${path}`, () => {
          hits[path] = (hits[path] ?? 0) + 1;
          return path === 'bad'
            ? new HttpResponse('slow down', { status: 429, headers: { 'retry-after': HUGE } })
            : new HttpResponse(null, { status: 204 });
        }),
      );
    }
    await ctx.db.rpc('webhook_enqueue', { p_type: 'dm.sent', p_data: { dmId: 'd-1' }, p_at: now() });

    const bad = () =>
      sql<{
        status: string;
        attempts: number;
        next_attempt_at: string | null;
        enabled: boolean;
        reason: string | null;
      }>(
        ctx.db,
        `select d.status, d.attempts, d.next_attempt_at, e.enabled, e.disabled_reason as reason
           from webhook_deliveries d join webhook_endpoints e on e.id = d.endpoint_id where e.url like '%/bad'`,
      ).then((r) => r[0]!);
    for (let run = 1; run <= 4; run++) {
      const summary = await runJob(webhooks, { db: ctx.db, trigger: 'cron', budgetMs: 30_000, now });
      expect(summary.status).not.toBe('error');
      const b = await bad();
      expect(b.attempts).toBe(run);
      if (run < 4) {
        // Waits as asked, but no longer than the webhook queue's bound.
        const waitS = (new Date(b.next_attempt_at!).getTime() - clockMs) / 1000;
        expect(waitS).toBeGreaterThan(0);
        expect(waitS).toBeLessThanOrEqual(WEBHOOK_MAX_WAIT_S);
      }
      clockMs += (WEBHOOK_MAX_WAIT_S + 60) * 1000;
    }
    expect(hits).toEqual({ 'ok-1': 1, 'ok-2': 1, bad: 4 });
    const b = await bad();
    expect(b).toMatchObject({ status: 'failed', attempts: 4, enabled: false });
    expect(b.reason).toMatch(/^disabled after 1 consecutive failed messages?/);
    const delivered = await sql<{ n: number }>(
      ctx.db,
      "select count(*)::int as n from webhook_deliveries where status = 'delivered'",
    );
    expect(delivered[0]!.n).toBe(2);
  });

  async function dmBatch(badRetryAfter: string) {
    const ok1 = await insertAccount(ctx.db, { unipile_account_id: 'acc-ok-1' });
    const ok2 = await insertAccount(ctx.db, { unipile_account_id: 'acc-ok-2' });
    const limited = await insertAccount(ctx.db, { unipile_account_id: 'acc-limited' });
    const sent = [...(await insertDms(ctx.db, ok1, 2)), ...(await insertDms(ctx.db, ok2, 2))];
    const [waiting] = await insertDms(ctx.db, limited, 1);
    let n = 0;
    server.use(
      http.post(`${DSN}/api/v1/chats`, async ({ request }) => {
        const form = await request.formData();
        if (form.get('account_id') === 'acc-limited') {
          return HttpResponse.json(
            { status: 429, type: 'errors/too_many_requests', title: 'Too many requests' },
            { status: 429, headers: { 'retry-after': badRetryAfter } },
          );
        }
        n++;
        return HttpResponse.json({ object: 'ChatStarted', chat_id: `c-${n}`, message_id: `m-${n}` }, { status: 201 });
      }),
    );
    setProvider(createUnipileProvider({ dsn: DSN, apiKey: 'k', timeoutMs: 5_000 }));
    const summary = await runJob(dmQueue, { db: ctx.db, trigger: 'cron', budgetMs: 20_000, now });
    const rows = await sql<{ id: string; status: string; attempts: number; next_attempt_at: string | null }>(
      ctx.db,
      'select id, status, attempts, next_attempt_at from dm_queue',
    );
    const [account] = await sql<{ dm_resume_at: string | null }>(
      ctx.db,
      'select dm_resume_at from accounts where id = $1',
      [limited],
    );
    return { summary, rows, sent, waiting: waiting!, resumeAt: account!.dm_resume_at };
  }

  test(`a DM batch where one send gets 429 with Retry-After: ${HUGE}: the DMs that were sent are 'sent', not uncertain`, async () => {
    const { summary, rows, sent, waiting, resumeAt } = await dmBatch(HUGE);
    expect(summary.status).not.toBe('error');
    expect(summary).toMatchObject({ succeeded: 4, uncertain: 0 });
    expect(rows.filter((r) => sent.includes(r.id)).map((r) => r.status)).toEqual(['sent', 'sent', 'sent', 'sent']);
    const w = rows.find((r) => r.id === waiting)!;
    expect(w).toMatchObject({ status: 'pending', attempts: 1 });
    expect(new Date(w.next_attempt_at!).getTime() - clockMs).toBeLessThanOrEqual(DAY_MS);
    expect(new Date(resumeAt!).getTime() - clockMs).toBeLessThanOrEqual(DAY_MS);
  });

  test(`a 429 with Retry-After: ${YEAR_9999} rests the account for at most 24 h, not until 9999`, async () => {
    const { summary, rows, waiting, resumeAt } = await dmBatch(YEAR_9999);
    expect(summary.status).not.toBe('error');
    expect(resumeAt).not.toBeNull();
    const restMs = new Date(resumeAt!).getTime() - clockMs;
    expect(restMs).toBeGreaterThan(0);
    expect(restMs).toBeLessThanOrEqual(DAY_MS);
    const w = rows.find((r) => r.id === waiting)!;
    expect(w.status).toBe('pending');
    expect(new Date(w.next_attempt_at!).getTime() - clockMs).toBeLessThanOrEqual(DAY_MS);
  });
});
