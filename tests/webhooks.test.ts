import { createHmac, timingSafeEqual } from 'node:crypto';
import { delay, HttpResponse, http } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { GET as cronGet } from '../app/api/cron/webhooks/route.ts';
import { dmQueue } from '../jobs/dm-queue.ts';
import { webhooks } from '../jobs/webhooks.ts';
import { PermanentError } from '../lib/cron/errors.ts';
import { runJob } from '../lib/cron/run.ts';
import { setDb } from '../lib/db/index.ts';
import { openSupabase } from '../lib/db/supabase.ts';
import type { Db } from '../lib/db/types.ts';
import { setProvider } from '../lib/providers/index.ts';
import { setWebhookResolver } from '../lib/webhooks/deliver.ts';
import { enableWebhookEndpoint, newWebhookSecret, redeliverWebhook } from '../lib/webhooks/queries.ts';
import { type ResolvedAddress, refusalReason } from '../lib/webhooks/target.ts';
import { forEachEngine, freshDb, sql } from './helpers/db.ts';
import { fakeProvider } from './helpers/fake-provider.ts';
import { insertAccount, insertDms } from './helpers/fixtures.ts';
import { capturedLogs, forbidInLogs } from './helpers/logs.ts';
import { postgrestHandlers } from './helpers/postgrest.ts';

const BODY = 'Hi Ada, this private DM body must never leave the database';
const CRON_SECRET = 'webhooks-test-cron-secret-0123';
forbidInLogs(BODY);
forbidInLogs(CRON_SECRET);

const T0 = Date.parse('2026-04-01T08:00:00Z');

/** Public-looking names for msw targets, and names that resolve somewhere they must not go. */
const DNS: Record<string, ResolvedAddress[]> = {
  'receiver.test': [{ address: '203.0.113.10', family: 4 }],
  'other.test': [
    { address: '203.0.113.11', family: 4 },
    { address: '2001:db8::11', family: 6 },
  ],
  'internal.test': [{ address: '::1', family: 6 }],
  'sneaky.test': [
    { address: '203.0.113.12', family: 4 },
    { address: '::ffff:10.0.0.1', family: 6 },
  ],
};

interface Received {
  url: string;
  headers: Record<string, string>;
  body: string;
}
const received: Received[] = [];
const server = setupServer();

beforeAll(() => {
  // Nothing in this file may reach the real network: an unhandled request is an error.
  server.listen({ onUnhandledFrame: 'error' });
  setWebhookResolver(async (host) => {
    const hit = DNS[host];
    if (!hit) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return hit;
  });
});
afterEach(() => {
  server.resetHandlers();
  received.length = 0;
  for (const k of ['WEBHOOKS_ALLOW_PRIVATE', 'WEBHOOK_DISABLE_AFTER', 'WEBHOOK_TIMEOUT_MS', 'JOB_MAX_ATTEMPTS'])
    delete process.env[k];
});
afterAll(() => {
  server.close();
  setWebhookResolver(undefined);
});

/** Answers `status` (or what `answer` returns) and records every request. */
function receiver(url: string, answer: number | ((n: number) => Response | Promise<Response>) = 204) {
  let n = 0;
  server.use(
    http.post(url, async ({ request }) => {
      received.push({ url: request.url, headers: Object.fromEntries(request.headers), body: await request.text() });
      n++;
      return typeof answer === 'number' ? new HttpResponse(null, { status: answer }) : answer(n);
    }),
  );
}

/** Standard Webhooks verification written from the spec, independent of the `standardwebhooks` package. */
function verifySignature(secret: string, headers: Record<string, string>, body: string): boolean {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const signed = `${headers['webhook-id']}.${headers['webhook-timestamp']}.${body}`;
  const expected = createHmac('sha256', key).update(signed, 'utf8').digest();
  return (headers['webhook-signature'] ?? '').split(' ').some((entry) => {
    const [version, sig] = entry.split(',');
    const given = Buffer.from(sig ?? '', 'base64');
    return version === 'v1' && given.length === expected.length && timingSafeEqual(given, expected);
  });
}

describe('refusalReason', () => {
  test.each([
    '127.0.0.1',
    '127.8.9.10',
    '10.0.0.1',
    '172.16.5.4',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '224.0.0.1',
    '::1',
    '::',
    'fe80::1',
    'fe80::1%eth0',
    'fc00::1',
    'fd12:3456:789a::1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:10.0.0.1',
    '::ffff:a9fe:a9fe',
    '64:ff9b::a00:1',
    'ff02::1',
  ])('refuses %s', (address) => {
    expect(refusalReason(address)).not.toBeNull();
  });

  test.each([
    '8.8.8.8',
    '203.0.113.10',
    '172.32.0.1',
    '172.15.255.255',
    '100.128.0.1',
    '11.0.0.1',
    '2606:4700:4700::1111',
    '::ffff:8.8.8.8',
    '2001:db8::1',
  ])('allows %s', (address) => {
    expect(refusalReason(address)).toBeNull();
  });
});

forEachEngine('webhooks', (ctx) => {
  let clockMs = T0;
  const now = () => new Date(clockMs);
  const run = (db: Db = ctx.db) => runJob(webhooks, { db, trigger: 'cron', budgetMs: 30_000, now });
  const reset = () =>
    sql(ctx.db, 'truncate accounts, dm_queue, posts, sync_jobs, webhook_endpoints, job_runs, cron_state cascade');

  async function addEndpoint(input: { url: string; events?: string[]; enabled?: boolean }) {
    const secret = newWebhookSecret();
    const rows = await sql<{ id: string }>(
      ctx.db,
      `insert into webhook_endpoints (url, secret, events, enabled)
       values ($1, $2, coalesce($3::text[], array['dm.sent', 'dm.failed', 'post.published', 'post.failed', 'sync.completed']), $4)
       returning id`,
      [input.url, secret, input.events ? `{${input.events.join(',')}}` : null, input.enabled ?? true],
    );
    return { id: rows[0]!.id, secret };
  }
  const emit = (type = 'dm.sent', data: Record<string, unknown> = { dmId: crypto.randomUUID() }) =>
    ctx.db.rpc('webhook_enqueue', { p_type: type, p_data: data, p_at: now() });
  const deliveries = () =>
    sql<{
      id: string;
      endpoint_id: string;
      event_type: string;
      msg_id: string;
      status: string;
      attempts: number;
      next_attempt_at: string | null;
      response_status: number | null;
      last_error: string | null;
      payload: { type: string; timestamp: string; data: Record<string, unknown> };
    }>(ctx.db, 'select * from webhook_deliveries order by created_at, id');

  beforeEach(async () => {
    await reset();
    clockMs = T0;
  });

  describe('outbox', () => {
    test('rows appear only when the status change commits: one per subscribed enabled endpoint', async () => {
      const a = await addEndpoint({ url: 'https://receiver.test/a', events: ['dm.sent', 'dm.failed'] });
      const b = await addEndpoint({ url: 'https://receiver.test/b', events: ['dm.sent'] });
      await addEndpoint({ url: 'https://receiver.test/c', events: ['post.published'] });
      await addEndpoint({ url: 'https://receiver.test/d', events: ['dm.sent'], enabled: false });
      const account = await insertAccount(ctx.db);
      const [dm] = await insertDms(ctx.db, account, 1, { body: BODY });

      await expect(
        ctx.db.transaction!(async (tx) => {
          await tx.query!(
            "update dm_queue set status = 'sent', sent_at = now(), provider_message_id = 'pm-1' where id = $1",
            [dm],
          );
          expect(await tx.query!('select 1 from webhook_deliveries')).toHaveLength(2); // visible inside ...
          throw new Error('roll back');
        }),
      ).rejects.toThrow('roll back');
      expect(await deliveries()).toHaveLength(0); // ... gone with the rollback

      await ctx.db.transaction!(async (tx) => {
        await tx.query!(
          "update dm_queue set status = 'sent', sent_at = now(), provider_message_id = 'pm-1' where id = $1",
          [dm],
        );
      });
      const rows = await deliveries();
      expect(rows.map((r) => r.endpoint_id).sort()).toEqual([a.id, b.id].sort());
      expect(new Set(rows.map((r) => r.msg_id)).size).toBe(1); // one event, one webhook-id
      expect(rows[0]!.payload).toMatchObject({
        type: 'dm.sent',
        data: { dmId: dm, accountId: account, status: 'sent', providerMessageId: 'pm-1' },
      });
      // The same status again is not a change: nothing new.
      await sql(ctx.db, "update dm_queue set status = 'sent' where id = $1", [dm]);
      expect(await deliveries()).toHaveLength(2);
      expect(JSON.stringify(rows)).not.toContain(BODY);
    });

    test('the real DM and post paths emit dm.sent, dm.failed, post.published, post.failed without body or content', async () => {
      await addEndpoint({ url: 'https://receiver.test/all' });
      const account = await insertAccount(ctx.db);
      await insertDms(ctx.db, account, 1, { body: BODY, recipient_id: 'ok' });
      await insertDms(ctx.db, account, 1, { body: BODY, recipient_id: 'bad' });
      const content = `${BODY} (as a post)`;
      forbidInLogs(content);
      await sql(ctx.db, "insert into posts (account_id, content, scheduled_for) values ($1, $2, '2026-01-01')", [
        account,
        content,
      ]);
      setProvider(
        fakeProvider({
          // A provider that echoes the request in its error: the webhook must not carry it on.
          behave: (input) =>
            input.recipientId === 'bad'
              ? new PermanentError(`invalid recipient for message "${input.text}"`, {
                  code: 'errors/invalid_recipient',
                })
              : undefined,
        }),
      );
      await runJob(dmQueue, { db: ctx.db, trigger: 'cron', budgetMs: 10_000, now });
      setProvider(undefined);
      await sql(ctx.db, "update posts set status = 'published', published_at = now(), provider_post_id = 'urn:1'");
      const rows = await deliveries();
      expect(rows.map((r) => r.event_type).sort()).toEqual(['dm.failed', 'dm.sent', 'post.published']);
      const failed = rows.find((r) => r.event_type === 'dm.failed')!;
      expect(failed.payload.data).toMatchObject({ status: 'failed', recipientId: 'bad' });
      // The provider's code and a fixed reason, never the error text (tests/webhook-payloads.test.ts has the cases).
      expect(failed.payload.data).toMatchObject({
        errorCode: 'errors/invalid_recipient',
        reason: 'the recipient cannot be reached',
      });
      expect(failed.payload.data).not.toHaveProperty('error');
      const serialized = JSON.stringify(rows);
      expect(serialized).not.toContain(BODY);
      expect(serialized).not.toContain(BODY.slice(0, 24));
    });
  });

  describe('delivery', () => {
    test('POSTs { type, timestamp, data } with Standard Webhooks headers that verify independently', async () => {
      const endpoint = await addEndpoint({ url: 'https://receiver.test/hook' });
      receiver('https://receiver.test/hook', 200);
      await emit('dm.sent', { dmId: 'd-1', status: 'sent' });
      clockMs = T0 + 1234;
      const summary = await run();
      expect(summary).toMatchObject({ status: 'ok', claimed: 1, succeeded: 1 });
      expect(received).toHaveLength(1);
      const { headers, body } = received[0]!;
      const [row] = await deliveries();
      expect(row).toMatchObject({ status: 'delivered', attempts: 1, response_status: 200, last_error: null });
      expect(headers['webhook-id']).toBe(row!.msg_id);
      expect(headers['webhook-id']).toMatch(/^msg_[0-9a-f]{32}$/);
      expect(headers['webhook-timestamp']).toBe(String(Math.floor((T0 + 1234) / 1000)));
      expect(headers['content-type']).toBe('application/json');
      expect(verifySignature(endpoint.secret, headers, body)).toBe(true);
      expect(verifySignature(newWebhookSecret(), headers, body)).toBe(false);
      expect(verifySignature(endpoint.secret, headers, body.replace('d-1', 'd-2'))).toBe(false);
      expect(Object.keys(JSON.parse(body))).toEqual(['type', 'timestamp', 'data']);
      expect(JSON.parse(body)).toEqual({
        type: 'dm.sent',
        timestamp: new Date(T0).toISOString(),
        data: { dmId: 'd-1', status: 'sent' },
      });
    });

    test('retries wait for their backoff (+1 min, +5 min, +30 min, +6 h), keep the webhook-id, then fail', async () => {
      await addEndpoint({ url: 'https://receiver.test/flaky' });
      receiver('https://receiver.test/flaky', () => HttpResponse.text('upstream down', { status: 503 }));
      await emit();
      const waits: number[] = [];
      for (let attempt = 1; attempt <= 5; attempt++) {
        await run();
        expect(received).toHaveLength(attempt);
        const [row] = await deliveries();
        if (attempt === 5) {
          expect(row).toMatchObject({ status: 'failed', attempts: 5, response_status: 503 });
          expect(row!.last_error).toBe('gave up after 5 attempts: HTTP 503: upstream down');
          break;
        }
        expect(row).toMatchObject({ status: 'pending', attempts: attempt, last_error: 'HTTP 503: upstream down' });
        const due = new Date(row!.next_attempt_at!).getTime();
        waits.push((due - clockMs) / 1000);
        clockMs = due - 1_000;
        await run();
        expect(received).toHaveLength(attempt); // not before its time
        clockMs = due;
      }
      expect(waits).toEqual([60, 300, 1800, 21_600]);
      expect(new Set(received.map((r) => r.headers['webhook-id'])).size).toBe(1);
      expect(new Set(received.map((r) => r.headers['webhook-timestamp'])).size).toBe(5);
    });

    test('a redirect is not followed and counts as a failure; a timeout is retried; a huge answer is not read', async () => {
      process.env.WEBHOOK_TIMEOUT_MS = '1000';
      await addEndpoint({ url: 'https://receiver.test/moved' });
      await addEndpoint({ url: 'https://other.test/slow' });
      await addEndpoint({ url: 'https://receiver.test/huge' });
      receiver(
        'https://receiver.test/moved',
        () => new HttpResponse(null, { status: 302, headers: { location: 'http://169.254.169.254/latest' } }),
      );
      receiver('https://other.test/slow', async () => {
        await delay(5_000);
        return new HttpResponse(null, { status: 200 });
      });
      receiver('https://receiver.test/huge', () => HttpResponse.text('x'.repeat(2_000_000), { status: 200 }));
      await emit();
      const started = Date.now();
      await run();
      expect(Date.now() - started).toBeLessThan(4_000);
      const rows = await deliveries();
      const byUrl = async (path: string) => {
        const [e] = await sql<{ id: string }>(ctx.db, 'select id from webhook_endpoints where url like $1', [
          `%${path}`,
        ]);
        return rows.find((r) => r.endpoint_id === e!.id)!;
      };
      expect(await byUrl('/moved')).toMatchObject({ status: 'pending', response_status: 302 });
      expect((await byUrl('/moved')).last_error).toMatch(/^HTTP 302: redirects are not followed/);
      expect(received.filter((r) => r.url.includes('169.254'))).toHaveLength(0);
      expect(await byUrl('/slow')).toMatchObject({ status: 'pending', response_status: null });
      expect((await byUrl('/slow')).last_error).toMatch(/no answer/);
      expect(await byUrl('/huge')).toMatchObject({ status: 'delivered', response_status: 200 });
    });

    test('private targets are refused as a permanent failure, unless WEBHOOKS_ALLOW_PRIVATE=1; redeliver sends again', async () => {
      const urls = [
        'http://127.0.0.1:8080/hook',
        'http://10.0.0.1/hook',
        'https://internal.test/hook', // resolves to ::1
        'https://sneaky.test/hook', // one public address, one ::ffff:10.0.0.1
        'http://[::ffff:127.0.0.1]/hook',
        'http://2130706433/hook', // 127.0.0.1 as a number
      ];
      for (const url of urls) await addEndpoint({ url, events: ['dm.failed'] });
      await emit('dm.failed');
      const summary = await run();
      expect(summary).toMatchObject({ claimed: urls.length, failed: urls.length, succeeded: 0 });
      expect(received).toHaveLength(0);
      for (const row of await deliveries()) {
        expect(row.status).toBe('failed');
        expect(row.attempts).toBe(1);
        expect(row.last_error).toMatch(/^refused target: .*(private|maps to the private)/);
      }

      // Local development may call local receivers.
      process.env.WEBHOOKS_ALLOW_PRIVATE = '1';
      receiver('http://127.0.0.1:8080/hook', 200);
      const [target] = await sql<{ id: string }>(ctx.db, 'select id from webhook_endpoints where url = $1', [urls[0]]);
      const local = (await deliveries()).find((r) => r.endpoint_id === target!.id)!;
      expect(await redeliverWebhook(ctx.db, { deliveryId: local.id })).toBe(true);
      expect(await redeliverWebhook(ctx.db, { deliveryId: local.id })).toBe(false); // no longer 'failed'
      await run();
      expect(received).toHaveLength(1);
      expect((await deliveries()).find((r) => r.id === local.id)).toMatchObject({ status: 'delivered', attempts: 1 });
    });

    test('an endpoint is disabled after WEBHOOK_DISABLE_AFTER consecutive failed messages; a delivered one resets the count', async () => {
      process.env.WEBHOOK_DISABLE_AFTER = '3';
      process.env.JOB_MAX_ATTEMPTS = '1';
      const endpoint = await addEndpoint({ url: 'https://receiver.test/broken' });
      let healthy = false;
      receiver('https://receiver.test/broken', () => new HttpResponse(null, { status: healthy ? 200 : 500 }));
      const state = async () =>
        (
          await sql<{ enabled: boolean; consecutive_failures: number; disabled_reason: string | null }>(
            ctx.db,
            'select enabled, consecutive_failures, disabled_reason from webhook_endpoints where id = $1',
            [endpoint.id],
          )
        )[0]!;

      await emit();
      await emit();
      await run();
      expect(await state()).toMatchObject({ enabled: true, consecutive_failures: 2 });
      healthy = true;
      await emit();
      await run();
      expect(await state()).toMatchObject({ enabled: true, consecutive_failures: 0 });
      healthy = false;
      for (let i = 0; i < 3; i++) {
        await emit();
        clockMs += 60_000;
        await run();
      }
      const disabled = await state();
      expect(disabled).toMatchObject({ enabled: false, consecutive_failures: 3 });
      expect(disabled.disabled_reason).toMatch(/^disabled after 3 consecutive failed messages; last: .*HTTP 500/);

      // Disabled: new events are not written for it, and nothing is sent.
      const before = received.length;
      await emit();
      await run();
      expect(received).toHaveLength(before);
      expect((await deliveries()).filter((r) => r.status === 'pending')).toHaveLength(0);

      expect(await enableWebhookEndpoint(ctx.db, { endpointId: endpoint.id })).toBe(true);
      expect(await state()).toMatchObject({ enabled: true, consecutive_failures: 0, disabled_reason: null });
      expect(await enableWebhookEndpoint(ctx.db, { endpointId: crypto.randomUUID() })).toBe(false);
    });

    test('the cron route delivers with the bearer secret; no payload or DM body in any log line', async () => {
      process.env.CRON_SECRET = CRON_SECRET;
      setDb(ctx.db);
      try {
        await addEndpoint({ url: 'https://receiver.test/route' });
        receiver('https://receiver.test/route', 500);
        const account = await insertAccount(ctx.db);
        const [dm] = await insertDms(ctx.db, account, 1, { body: BODY });
        await sql(ctx.db, "update dm_queue set status = 'sent', sent_at = now() where id = $1", [dm]);
        const res = await cronGet(
          new Request('http://localhost/api/cron/webhooks', { headers: { authorization: `Bearer ${CRON_SECRET}` } }),
        );
        expect(res.status).toBe(200);
        expect(await res.json()).toMatchObject({ job: 'webhooks', claimed: 1, retried: 1 });
        expect(received[0]!.body).not.toContain(BODY);
        const failures = capturedLogs().filter((l) => l.msg === 'webhook attempt failed');
        expect(failures.length).toBeGreaterThan(0);
        expect(failures.at(-1)).toMatchObject({ host: 'receiver.test', event: 'dm.sent' });
        expect(JSON.stringify(failures)).not.toContain('/route');
      } finally {
        setDb(undefined);
        delete process.env.CRON_SECRET;
      }
    });
  });
});

describe('webhooks over supabase-js (PostgREST stub on PGlite)', () => {
  const SUPABASE_URL = 'http://supabase.test';
  const SERVICE_KEY = 'webhooks-test-service-role-key';
  forbidInLogs(SERVICE_KEY);

  test('claim, deliver, settle, retry and admin functions run the same SQL over .rpc()', async () => {
    const fresh = await freshDb('pglite');
    const db = openSupabase(SUPABASE_URL, SERVICE_KEY);
    try {
      const secret = newWebhookSecret();
      await sql(fresh.db, "insert into webhook_endpoints (url, secret) values ('https://receiver.test/sb', $1)", [
        secret,
      ]);
      let status = 500;
      server.use(
        ...postgrestHandlers(SUPABASE_URL, SERVICE_KEY, fresh.db),
        http.post('https://receiver.test/sb', async ({ request }) => {
          received.push({ url: request.url, headers: Object.fromEntries(request.headers), body: await request.text() });
          return new HttpResponse(null, { status });
        }),
      );
      await db.rpc('webhook_enqueue', { p_type: 'post.published', p_data: { postId: 'p-1' } });
      const at = Date.parse('2026-05-01T00:00:00Z');
      const first = await runJob(webhooks, { db, trigger: 'cron', budgetMs: 30_000, now: () => new Date(at) });
      expect(first).toMatchObject({ claimed: 1, retried: 1 });
      status = 200;
      const second = await runJob(webhooks, {
        db,
        trigger: 'cron',
        budgetMs: 30_000,
        now: () => new Date(at + 60_000),
      });
      expect(second).toMatchObject({ claimed: 1, succeeded: 1 });
      expect(received).toHaveLength(2);
      expect(verifySignature(secret, received[1]!.headers, received[1]!.body)).toBe(true);
      expect(JSON.parse(received[1]!.body)).toMatchObject({ type: 'post.published', data: { postId: 'p-1' } });
      const [delivery] = await sql<{ id: string; status: string }>(
        fresh.db,
        'select id, status from webhook_deliveries',
      );
      expect(delivery!.status).toBe('delivered');
      expect(await redeliverWebhook(db, { deliveryId: delivery!.id })).toBe(false);
      const [endpoint] = await sql<{ id: string }>(fresh.db, 'select id from webhook_endpoints');
      expect(await enableWebhookEndpoint(db, { endpointId: endpoint!.id })).toBe(true);
    } finally {
      await db.close();
      await fresh.dispose();
    }
  });
});
