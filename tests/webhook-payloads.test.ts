import { HttpResponse, http } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, beforeEach, expect, test } from 'vitest';
import { dmQueue } from '../jobs/dm-queue.ts';
import { postScheduler } from '../jobs/post-scheduler.ts';
import { webhooks } from '../jobs/webhooks.ts';
import { PermanentError, RetryableError } from '../lib/cron/errors.ts';
import { runJob } from '../lib/cron/run.ts';
import { setProvider } from '../lib/providers/index.ts';
import { createUnipileProvider } from '../lib/providers/unipile.ts';
import { setWebhookResolver } from '../lib/webhooks/deliver.ts';
import { newWebhookSecret } from '../lib/webhooks/queries.ts';
import { forEachEngine, sql } from './helpers/db.ts';
import { fakeProvider } from './helpers/fake-provider.ts';
import { insertAccount, insertDms } from './helpers/fixtures.ts';

/**
 * Message text never reaches a webhook receiver (issue 12, B3), even when the provider's error echoes the DM body or
 * the post content with its whitespace changed, its tags stripped, normalised or JSON-escaped: `dm.failed` and
 * `post.failed` carry `errorCode` and a fixed `reason`, and no word of the body appears in any delivered payload.
 */
const DSN = 'https://payloads.unipile.test';

/** Each DM: its body, how the provider echoes it in the error, and words that must never reach a receiver. */
const DMS = [
  {
    recipient: 'collapse',
    body: 'Hi Ada,\n\nthe Zanzibar\tmarmalade offer:\r\n  €4,200 by Thursday.',
    echo: (t: string) => t.replace(/\s+/g, ' '),
    secrets: ['Zanzibar', 'marmalade', '€4,200', 'Thursday'],
  },
  {
    recipient: 'html',
    body: "<p>Confidential <b>quokka</b> pricing</p>\n<script>alert('xylophone')</script>\tend",
    echo: (t: string) =>
      t
        .replace(/<[^>]*>/g, ' ')
        .replace(/\s+/g, ' ')
        .trim(),
    secrets: ['Confidential', 'quokka', 'xylophone'],
  },
  {
    recipient: 'unicode',
    body: 'Grüße aus Köln —\n秘密のメッセージ 🚀 über\u00a0Quetzalcoatl\u2028done',
    echo: (t: string) => t.normalize('NFKC').replace(/\s+/g, ' '),
    secrets: ['Grüße', 'Köln', '秘密のメッセージ', '🚀', 'Quetzalcoatl'],
  },
  {
    // The provider puts the body into its error code: the code is dropped, the reason stays generic.
    recipient: 'in-code',
    body: 'Meet the\nCapybara at noon',
    echo: (t: string) => t,
    secrets: ['Capybara'],
  },
  {
    // Retried until the attempts run out: the "gave up after" path.
    recipient: 'escaped',
    body: 'Lorem\tipsum\n\ndolor Ocelot sit\r\namet, Wombat consectetur',
    echo: (t: string) => JSON.stringify(t),
    secrets: ['Ocelot', 'Wombat', 'consectetur'],
  },
];

/** Each post, and how Unipile's error echoes it (a JSON detail with whitespace collapsed, or an HTML error page). */
const POSTS = [
  {
    content: 'Launch day!\n\nOur Narwhal\tproject ships at 09:00 — Bücher & <i>Kiwi</i>',
    answer: (t: string) =>
      HttpResponse.json(
        {
          status: 422,
          type: 'errors/invalid_parameters',
          title: 'Invalid',
          detail: `Bad text: ${t.replace(/\s+/g, ' ')}`,
        },
        { status: 422 },
      ),
    secrets: ['Narwhal', 'Bücher', 'Kiwi'],
  },
  {
    content: 'Big news:\r\n\r\nthe Pangolin\tmerger <b>closes</b> Friday',
    answer: (t: string) => HttpResponse.html(`<html><body><h1>Rejected</h1><p>${t}</p></body></html>`, { status: 400 }),
    secrets: ['Pangolin', 'merger'],
  },
];

const server = setupServer();
const received: string[] = [];
beforeAll(() => {
  server.listen({ onUnhandledFrame: 'error' });
  setWebhookResolver(async () => [{ address: '203.0.113.30', family: 4 }]);
});
afterEach(() => {
  server.resetHandlers();
  setProvider(undefined);
  received.length = 0;
  delete process.env.JOB_MAX_ATTEMPTS;
});
afterAll(() => {
  server.close();
  setWebhookResolver(undefined);
});

/** Every string in a JSON value, so an escaped form (`\u00f6`, `\n`) is compared as the receiver reads it. */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value && typeof value === 'object') return Object.values(value).flatMap(strings);
  return [];
}

forEachEngine('webhook payloads', (ctx) => {
  test.each([
    ['errors/invalid_recipient: Unipile sendMessage failed', 'hello', 'errors/invalid_recipient'],
    ['gave up after 5 attempts: http_503: upstream down', 'hello', 'http_503'],
    ['network/ECONNREFUSED: connect refused', 'hello', 'network/ECONNREFUSED'],
    ['Unipile sendMessage failed with HTTP 422 (x)', 'hello', null],
    ['errors/hi there: x', 'hello', null],
    [`errors/${'a'.repeat(49)}: x`, 'hello', null],
    ['errors/zanzibar_marmalade_offer: x', 'Hi Ada, the Zanzibar\nmarmalade offer', null],
    ['errors/ZANZIBAR: x', 'zanzibar', null],
    ['errors/zanzibar: x', '\uff3a\uff41\uff4e\uff5a\uff49\uff42\uff41\uff52', null], // fullwidth, NFKC
    ['errors/x_marmaladeoffer_by_thursday: x', 'the Zanzibar marmalade offer: €4,200 by Thursday.', null],
    ['errors/invalid_recipient: x', 'Dear Ada', 'errors/invalid_recipient'],
    // Words of the public code vocabulary and short numbers carry nothing of a body that contains them too.
    ['errors/invalid_recipient: x', 'your message: an invalid recipient', 'errors/invalid_recipient'],
    ['http_400: x', 'room 400', 'http_400'],
    ['errors/koeln_koln: x', 'Grüße aus Köln', null], // accents folded

    [null, 'x', null],
  ])('webhook_error_code(%j, %j) → %j', async (lastError, body, code) => {
    const [r] = await sql<{ c: string | null }>(ctx.db, 'select public.webhook_error_code($1, $2) as c', [
      lastError,
      body,
    ]);
    expect(r!.c).toBe(code);
  });

  test.each([
    ['errors/invalid_recipient: invalid recipient for "Zanzibar"', 'the recipient cannot be reached'],
    ['gave up after 5 attempts: http_503: Zanzibar', 'gave up after 5 attempts of temporary errors'],
    ['errors/too_many_characters: Zanzibar', 'the provider refused the content'],
    ['errors/invalid_parameters: Zanzibar', 'the provider refused the request as invalid'],
    ['missing_provider_account: Zanzibar', 'the account cannot do this at the provider'],
    ['timeout: Zanzibar', 'the provider could not be reached'],
    ['http_400: <p>Zanzibar</p>', 'the provider refused the request'],
    ['Unipile publishPost failed: Zanzibar', 'the request failed'],
    [null, 'the request failed'],
  ])('webhook_failure_reason(%j) → %j', async (lastError, reason) => {
    const [r] = await sql<{ r: string }>(ctx.db, 'select public.webhook_failure_reason($1) as r', [lastError]);
    expect(r!.r).toBe(reason);
  });

  const clockMs = Date.now();
  const now = () => new Date(clockMs);
  beforeEach(async () => {
    await sql(ctx.db, 'truncate accounts, dm_queue, posts, webhook_endpoints, job_runs, cron_state cascade');
  });

  test('a provider error echoing the body (newlines, tabs, HTML, non-ASCII; whitespace changed) never reaches a receiver: dm.failed and post.failed carry errorCode and a fixed reason', async () => {
    process.env.JOB_MAX_ATTEMPTS = '1';
    await sql(ctx.db, "insert into webhook_endpoints (url, secret) values ('https://receiver.test/all', $1)", [
      newWebhookSecret(),
    ]);
    server.use(
      http.post('https://receiver.test/all', async ({ request }) => {
        received.push(await request.text());
        return new HttpResponse(null, { status: 204 });
      }),
      http.post(`${DSN}/api/v1/posts`, async ({ request }) => {
        const text = String((await request.formData()).get('text'));
        // multipart/form-data sends line breaks as CRLF: find the post by a word of it.
        return POSTS.find((p) => text.includes(p.secrets[0]!))!.answer(text);
      }),
    );
    const account = await insertAccount(ctx.db);
    for (const dm of DMS) await insertDms(ctx.db, account, 1, { recipient_id: dm.recipient, body: dm.body });
    for (const post of POSTS) {
      await sql(ctx.db, "insert into posts (account_id, content, scheduled_for) values ($1, $2, '2026-01-01')", [
        account,
        post.content,
      ]);
    }

    setProvider(
      fakeProvider({
        behave: (input) => {
          const dm = DMS.find((d) => d.recipient === input.recipientId)!;
          const message = `cannot deliver "${dm.echo(input.text)}"`;
          if (dm.recipient === 'in-code') return new PermanentError('refused', { code: 'errors/meet_the_Capybara' });
          return dm.recipient === 'escaped'
            ? new RetryableError(message, { code: 'errors/provider_error' })
            : new PermanentError(message, { code: 'errors/invalid_recipient' });
        },
      }),
    );
    await runJob(dmQueue, { db: ctx.db, trigger: 'cron', budgetMs: 10_000, now });
    setProvider(createUnipileProvider({ dsn: DSN, apiKey: 'k', timeoutMs: 5_000 }));
    await runJob(postScheduler, { db: ctx.db, trigger: 'cron', budgetMs: 10_000, now });
    // The provider did echo the text: it is in last_error (the operator's view), whitespace changed.
    const [echoed] = await sql<{ last_error: string }>(
      ctx.db,
      "select last_error from dm_queue where recipient_id = 'collapse'",
    );
    expect(echoed!.last_error).toContain('Zanzibar marmalade');

    const summary = await runJob(webhooks, { db: ctx.db, trigger: 'cron', budgetMs: 30_000, now });
    expect(summary).toMatchObject({ claimed: 7, succeeded: 7 });
    const payloads = await sql<{ event_type: string; payload: { data: Record<string, unknown> } }>(
      ctx.db,
      'select event_type, payload from webhook_deliveries',
    );
    expect(payloads.map((p) => p.event_type).sort()).toEqual([
      'dm.failed',
      'dm.failed',
      'dm.failed',
      'dm.failed',
      'dm.failed',
      'post.failed',
      'post.failed',
    ]);
    expect(received).toHaveLength(7);

    const seen = [...received, ...received.flatMap((b) => strings(JSON.parse(b))), ...payloads.flatMap(strings)]
      .join('\n')
      .toLowerCase();
    const secrets = [...DMS, ...POSTS].flatMap((x) => x.secrets);
    expect(secrets.filter((s) => seen.includes(s.toLowerCase()))).toEqual([]);

    const codes = payloads.map((p) => p.payload.data.errorCode ?? null).sort();
    expect(codes).toEqual([
      'errors/invalid_parameters',
      'errors/invalid_recipient',
      'errors/invalid_recipient',
      'errors/invalid_recipient',
      'errors/provider_error',
      'http_400',
      null,
    ]);
    for (const p of payloads) {
      expect(typeof p.payload.data.reason).toBe('string');
      expect((p.payload.data.reason as string).length).toBeGreaterThan(0);
    }
  });
});
