import { delay, HttpResponse, http } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { dmQueue } from '../../jobs/dm-queue.ts';
import { runJob } from '../../lib/cron/run.ts';
import { openPostgres } from '../../lib/db/postgres.ts';
import type { Db } from '../../lib/db/types.ts';
import { setProvider } from '../../lib/providers/index.ts';
import { createUnipileProvider } from '../../lib/providers/unipile.ts';
import { freshDb, serverAvailable, sql } from '../helpers/db.ts';

/**
 * Provider chaos: 10,000 DMs over 100 accounts against a Unipile stand-in answering a random mix of 201, 429 with
 * Retry-After, 500, 503, 504, timeouts, malformed JSON and HTML error pages. Several runs at once, the clock moved an
 * hour per round, until the queue is quiet; then the invariants are checked against the provider's own log.
 */
const DSN = 'https://chaos.unipile.test';
const DMS_PER_ACCOUNT = 100;
const ACCOUNTS = 100;

// A deterministic random stream, so a failure can be replayed.
let seed = 20261125;
const random = () => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed / 2 ** 31;
};

let simNow = new Date('2026-03-02T08:00:00Z');
/** Messages that took effect at the provider: what LinkedIn's recipients actually got. */
const delivered: { account: string; recipient: string; text: string; at: Date; messageId: string }[] = [];
const injected: Record<string, number> = {};
const count = (k: string) => {
  injected[k] = (injected[k] ?? 0) + 1;
};

function deliver(form: FormData): string {
  const messageId = `m${delivered.length + 1}`;
  delivered.push({
    account: String(form.get('account_id')),
    recipient: String(form.get('attendees_ids')),
    text: String(form.get('text')),
    at: simNow,
    messageId,
  });
  return messageId;
}

const server = setupServer(
  http.post(`${DSN}/api/v1/chats`, async ({ request }) => {
    const form = await request.formData();
    const r = random();
    if (r < 0.6) {
      count('201');
      return HttpResponse.json(
        { object: 'ChatStarted', chat_id: `c-${form.get('attendees_ids')}`, message_id: deliver(form) },
        { status: 201 },
      );
    }
    if (r < 0.66) {
      count('429');
      return HttpResponse.json(
        { title: 'Too many requests', type: 'errors/too_many_requests', status: 429 },
        { status: 429, headers: { 'retry-after': '120' } },
      );
    }
    if (r < 0.72) {
      count('500');
      return HttpResponse.json(
        { title: 'Unexpected error', type: 'errors/unexpected_error', status: 500 },
        { status: 500 },
      );
    }
    if (r < 0.78) {
      count('503');
      return new HttpResponse('Service Unavailable', { status: 503 });
    }
    if (r < 0.83) {
      // A gateway timeout: half the time the message went out anyway.
      count('504');
      if (random() < 0.5) deliver(form);
      return HttpResponse.json(
        { title: 'Request timeout', type: 'errors/request_timeout', status: 504 },
        { status: 504 },
      );
    }
    if (r < 0.87) {
      // No answer within the client's timeout: half the time the message went out anyway.
      count('timeout');
      if (random() < 0.5) deliver(form);
      await delay(2_000);
      return HttpResponse.json({}, { status: 201 });
    }
    if (r < 0.92) {
      // Sent, but the body is garbage: the client cannot know the ids.
      count('malformed-json');
      deliver(form);
      return new HttpResponse('{"object":"ChatStarted",', {
        status: 201,
        headers: { 'content-type': 'application/json' },
      });
    }
    count('html-502');
    return new HttpResponse('<html><body><h1>502 Bad Gateway</h1></body></html>', {
      status: 502,
      headers: { 'content-type': 'text/html' },
    });
  }),
  // Reconciliation lookups answer from the provider's own log.
  http.get(`${DSN}/api/v1/chat_attendees/:recipient/chats`, ({ params, request }) => {
    const account = new URL(request.url).searchParams.get('account_id');
    const has = delivered.some((d) => d.recipient === params.recipient && d.account === account);
    return has
      ? HttpResponse.json({ object: 'ChatList', items: [{ id: `c-${params.recipient}|${account}` }], cursor: null })
      : HttpResponse.json({ object: 'ChatList', items: [], cursor: null });
  }),
  http.get(`${DSN}/api/v1/chats/:chat/messages`, ({ params }) => {
    const [recipient, account] = String(params.chat).slice(2).split('|');
    const items = delivered
      .filter((d) => d.recipient === recipient && d.account === account)
      .map((d) => ({ id: d.messageId, text: d.text, is_sender: 1, timestamp: d.at.toISOString() }));
    return HttpResponse.json({ object: 'MessageList', items, cursor: null });
  }),
);

describe.runIf(serverAvailable('provider chaos [postgres]'))('provider chaos [postgres]', () => {
  let db: Db;
  let url: string;
  let dispose: () => Promise<void>;
  const runners: Db[] = [];

  beforeAll(async () => {
    server.listen({ onUnhandledFrame: 'error' });
    ({ db, url, dispose } = (await freshDb('postgres')) as { db: Db; url: string; dispose: () => Promise<void> });
    const zones = ['UTC', 'America/New_York', 'Asia/Tokyo', 'Pacific/Kiritimati', 'Pacific/Pago_Pago', 'Europe/Berlin'];
    await sql(
      db,
      `insert into accounts (name, timezone, dm_daily_limit, unipile_account_id)
       select 'chaos-' || g, ($1::text[])[1 + g % 6], 30 + (g % 4) * 10, 'acc-' || g from generate_series(1, $2::int) g`,
      [`{${zones.join(',')}}`, ACCOUNTS],
    );
    await sql(
      db,
      `insert into dm_queue (account_id, recipient_id, body, send_at)
       select a.id, 'rcpt-' || a.name || '-' || g, 'chaos message ' || a.name || ' #' || g, $1::timestamptz
         from accounts a, generate_series(1, $2::int) g`,
      [simNow.toISOString(), DMS_PER_ACCOUNT],
    );
    setProvider(createUnipileProvider({ dsn: DSN, apiKey: 'chaos-key', timeoutMs: 300 }));
    for (let i = 0; i < 4; i++) runners.push(openPostgres(url, { max: 2 }));
  });

  afterAll(async () => {
    server.close();
    setProvider(undefined);
    await Promise.all(runners.map((r) => r.close()));
    await dispose?.();
  });

  test('no duplicate, caps held per local day, every row terminal or scheduled with a reason', async () => {
    let rounds = 0;
    let quietRounds = 0;
    while (rounds < 400 && quietRounds < 3) {
      rounds++;
      const now = () => simNow;
      const summaries = await Promise.all(
        runners.map((r) => runJob(dmQueue, { db: r, trigger: 'cron', budgetMs: 20_000, now })),
      );
      expect(summaries.every((s) => s.status !== 'error')).toBe(true);
      const [left] = await sql<{ n: number }>(
        db,
        "select count(*)::int as n from dm_queue where status in ('pending', 'sending')",
      );
      quietRounds = left!.n === 0 ? quietRounds + 1 : 0;
      simNow = new Date(simNow.getTime() + 3600_000);
    }

    // No duplicate: every DM text took effect at the provider at most once.
    const texts = delivered.map((d) => d.text);
    const duplicates = texts.length - new Set(texts).size;
    expect(duplicates).toBe(0);

    // Caps held per account per local day, counted from the provider's own log.
    const accounts = await sql<{ unipile_account_id: string; timezone: string; dm_daily_limit: number }>(
      db,
      'select unipile_account_id, timezone, dm_daily_limit from accounts',
    );
    const perDay = new Map<string, number>();
    for (const d of delivered) {
      const acct = accounts.find((a) => a.unipile_account_id === d.account)!;
      const day = d.at.toLocaleDateString('en-CA', { timeZone: acct.timezone });
      const key = `${d.account}|${day}`;
      perDay.set(key, (perDay.get(key) ?? 0) + 1);
    }
    const overCap = [...perDay.entries()].filter(
      ([key, n]) => n > accounts.find((a) => a.unipile_account_id === key.split('|')[0])!.dm_daily_limit,
    );
    expect(overCap).toEqual([]);

    // Every row terminal (or waiting for a retry) with a reason; 'sent' rows match the provider's log.
    const rows = await sql<{ status: string; n: number; without_reason: number }>(
      db,
      `select status, count(*)::int as n, count(*) filter (where coalesce(last_error, '') = '')::int as without_reason from dm_queue group by status`,
    );
    const byStatus = Object.fromEntries(rows.map((r) => [r.status, r]));
    expect(Object.keys(byStatus).every((s) => ['sent', 'failed', 'uncertain'].includes(s))).toBe(true);
    expect(byStatus.failed?.without_reason ?? 0).toBe(0);
    expect(byStatus.uncertain?.without_reason ?? 0).toBe(0);
    const total = rows.reduce((n, r) => n + r.n, 0);
    expect(total).toBe(ACCOUNTS * DMS_PER_ACCOUNT);
    const sentTexts = await sql<{ body: string }>(db, "select body from dm_queue where status = 'sent'");
    const deliveredSet = new Set(texts);
    expect(sentTexts.filter((r) => !deliveredSet.has(r.body))).toEqual([]); // nothing marked sent that was not delivered

    console.log(
      `[chaos] ${ACCOUNTS * DMS_PER_ACCOUNT} DMs, ${rounds} rounds × ${runners.length} concurrent runs; provider answers: ${JSON.stringify(injected)}; ` +
        `delivered ${delivered.length}, duplicates ${duplicates}; final ${JSON.stringify(Object.fromEntries(rows.map((r) => [r.status, r.n])))}`,
    );
  });
});
