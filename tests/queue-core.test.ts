import { describe, expect, test } from 'vitest';
import type { Outcome } from '../lib/cron/drain.ts';
import { cleanText, countDecisions, toSettleRecords } from '../lib/cron/outcomes.ts';
import type { Db } from '../lib/db/types.ts';
import { settleDms } from '../lib/dm/queries.ts';
import { settlePosts } from '../lib/posts/queries.ts';
import { settleSyncJobs } from '../lib/sync/queries.ts';
import { settleDeliveries } from '../lib/webhooks/queries.ts';
import { forEachEngine, sql } from './helpers/db.ts';
import { insertAccount } from './helpers/fixtures.ts';

/**
 * One table of outcome × attempt × Retry-After cases, run through the settle path of every queue: each must reach the
 * same next state (in its own status words), because each settles through the one transition of the core
 * (queue_transition). Where a queue differs on purpose (no 'uncertain' for idempotent calls, what a key error means)
 * the difference is a per-queue option of the one outcome mapper, listed in `QUEUES` below.
 */
const NOW = new Date('2026-03-10T12:00:00Z');
const RUN = '00000000-0000-4000-8000-0000000000aa';
const OTHER_RUN = '00000000-0000-4000-8000-0000000000bb';

type State = 'done' | 'waiting' | 'failed' | 'uncertain';

interface Expected {
  state: State;
  attempts: number;
  /** Seconds after NOW; null = no next attempt; 'bound' = the queue's retry_after_max_seconds. */
  delay: number | null | 'bound';
  error?: RegExp | null;
}

interface Case {
  name: string;
  attempts: number;
  outcome: Outcome<unknown>['outcome'];
  retryAfterMs?: number;
  expected: Expected | ((q: QueueUnderTest) => Expected);
}

const CASES: Case[] = [
  { name: 'done', attempts: 1, outcome: 'success', expected: { state: 'done', attempts: 1, delay: null, error: null } },
  { name: 'retry #1', attempts: 1, outcome: 'retry', expected: { state: 'waiting', attempts: 1, delay: 60 } },
  { name: 'retry #2', attempts: 2, outcome: 'retry', expected: { state: 'waiting', attempts: 2, delay: 300 } },
  { name: 'retry #3', attempts: 3, outcome: 'retry', expected: { state: 'waiting', attempts: 3, delay: 1800 } },
  { name: 'retry #4', attempts: 4, outcome: 'retry', expected: { state: 'waiting', attempts: 4, delay: 21600 } },
  {
    name: 'retry #5 gives up',
    attempts: 5,
    outcome: 'retry',
    expected: { state: 'failed', attempts: 5, delay: null, error: /^gave up after 5 attempts: / },
  },
  {
    name: 'Retry-After shorter than the backoff',
    attempts: 1,
    outcome: 'retry',
    retryAfterMs: 10_000,
    expected: { state: 'waiting', attempts: 1, delay: 60 },
  },
  {
    name: 'Retry-After longer than the backoff',
    attempts: 1,
    outcome: 'retry',
    retryAfterMs: 900_000,
    expected: { state: 'waiting', attempts: 1, delay: 900 },
  },
  {
    name: 'absurd Retry-After is bounded',
    attempts: 2,
    outcome: 'retry',
    retryAfterMs: 1e20,
    expected: { state: 'waiting', attempts: 2, delay: 'bound' },
  },
  {
    name: 'negative Retry-After is ignored',
    attempts: 1,
    outcome: 'retry',
    retryAfterMs: -5_000,
    expected: { state: 'waiting', attempts: 1, delay: 60 },
  },
  {
    name: 'failed at once',
    attempts: 1,
    outcome: 'failed',
    expected: { state: 'failed', attempts: 1, delay: null, error: /boom/ },
  },
  {
    name: 'uncertain',
    attempts: 2,
    outcome: 'uncertain',
    expected: (q) =>
      q.uncertain ? { state: 'uncertain', attempts: 2, delay: null } : { state: 'waiting', attempts: 2, delay: 300 },
  },
  {
    name: 'release refunds the attempt',
    attempts: 2,
    outcome: 'release',
    expected: { state: 'waiting', attempts: 1, delay: null, error: null },
  },
  {
    name: 'key error',
    attempts: 1,
    outcome: 'key',
    expected: (q) =>
      q.key === 'pause'
        ? { state: 'waiting', attempts: 0, delay: null, error: /boom/ }
        : q.key === 'fail'
          ? { state: 'failed', attempts: 1, delay: null, error: /^account disconnected: .*boom/ }
          : { state: 'waiting', attempts: 1, delay: 60 },
  },
];

interface QueueUnderTest {
  queue: string;
  statuses: Record<State, string>;
  uncertain: boolean;
  /** What a key error does: pause the account (item waits), fail the item (sync), or retry (webhooks). */
  key: 'pause' | 'fail' | 'retry';
  /** Inserts one item held by RUN with `attempts`; returns its id. */
  insert(db: Db, attempts: number): Promise<string>;
  settle(db: Db, outcome: Outcome<unknown>, runId?: string): Promise<unknown>;
  read(db: Db, id: string): Promise<{ status: string; attempts: number; next: string | null; error: string | null }>;
}

async function insertHeld(db: Db, table: string, columns: string, values: string, attempts: number) {
  const [row] = await sql<{ id: string }>(
    db,
    `insert into ${table} (${columns}, attempts, run_id, lease_until) values (${values}, $1, $2, $3) returning id`,
    [attempts, RUN, new Date(NOW.getTime() + 60_000).toISOString()],
  );
  return row!.id;
}

const read =
  (table: string, errorColumn = 'last_error') =>
  async (db: Db, id: string) => {
    const [r] = await sql<{ status: string; attempts: number; next: string | null; error: string | null }>(
      db,
      `select status, attempts, next_attempt_at as next, ${errorColumn} as error from ${table} where id = $1`,
      [id],
    );
    return r!;
  };

let account = '';
let endpoint = '';

const QUEUES: QueueUnderTest[] = [
  {
    queue: 'dm',
    statuses: { done: 'sent', waiting: 'pending', failed: 'failed', uncertain: 'uncertain' },
    uncertain: true,
    key: 'pause',
    insert: (db, n) =>
      insertHeld(
        db,
        'dm_queue',
        'account_id, recipient_id, body, status, attempted_at',
        `'${account}', 'r', 'hello', 'sending', '${NOW.toISOString()}'`,
        n,
      ),
    settle: (db, o, runId = RUN) =>
      settleDms(db, { runId, now: NOW, outcomes: [o as Outcome<{ chatId: null; messageId: null }>] }),
    read: read('dm_queue'),
  },
  {
    queue: 'post',
    statuses: { done: 'published', waiting: 'scheduled', failed: 'failed', uncertain: 'uncertain' },
    uncertain: true,
    key: 'pause',
    insert: (db, n) =>
      insertHeld(
        db,
        'posts',
        'account_id, content, scheduled_for, status, attempted_at',
        `'${account}', 'a post', '${NOW.toISOString()}', 'publishing', '${NOW.toISOString()}'`,
        n,
      ),
    settle: (db, o, runId = RUN) => settlePosts(db, { runId, now: NOW, outcomes: [o as Outcome<{ postId: null }>] }),
    read: read('posts'),
  },
  {
    queue: 'sync',
    statuses: { done: 'completed', waiting: 'running', failed: 'failed', uncertain: 'uncertain' },
    uncertain: false,
    key: 'fail',
    insert: (db, n) => insertHeld(db, 'sync_jobs', 'account_id, status', `'${account}', 'running'`, n),
    settle: (db, o, runId = RUN) =>
      settleSyncJobs(db, {
        runId,
        now: NOW,
        pagesAtClaim: new Map([[o.id, 0]]),
        outcomes: [
          o.outcome === 'success'
            ? {
                id: o.id,
                outcome: 'success',
                result: { applied: true, status: 'completed', pages: 1, items: 0, fetched: 0 },
              }
            : (o as Outcome<never>),
        ],
      }),
    read: read('sync_jobs', 'error'),
  },
  {
    queue: 'webhook',
    statuses: { done: 'delivered', waiting: 'pending', failed: 'failed', uncertain: 'uncertain' },
    uncertain: false,
    key: 'retry',
    insert: (db, n) =>
      insertHeld(
        db,
        'webhook_deliveries',
        'endpoint_id, event_type, msg_id, payload, status, attempted_at',
        `'${endpoint}', 'dm.sent', 'msg_' || gen_random_uuid(), '{}', 'delivering', '${NOW.toISOString()}'`,
        n,
      ),
    settle: (db, o, runId = RUN) =>
      settleDeliveries(db, {
        runId,
        now: NOW,
        disableAfter: 0,
        outcomes: [
          o.outcome === 'success'
            ? { id: o.id, outcome: 'success', result: { httpStatus: 200 } }
            : (o as Outcome<never>),
        ],
      }),
    read: read('webhook_deliveries'),
  },
];

function outcomeFor(c: Case, id: string): Outcome<unknown> {
  switch (c.outcome) {
    case 'success':
      return { id, outcome: 'success', result: { chatId: null, messageId: null, postId: null } };
    case 'retry':
      return { id, outcome: 'retry', error: 'boom', retryAfterMs: c.retryAfterMs };
    case 'key':
      return { id, outcome: 'key', error: 'boom', code: 'errors/disconnected_account', keyStatus: 'disconnected' };
    case 'release':
      return { id, outcome: 'release', error: 'not started' };
    default:
      return { id, outcome: c.outcome, error: 'boom' } as Outcome<unknown>;
  }
}

forEachEngine('one transition for every queue', (ctx) => {
  const reset = async () => {
    await sql(ctx.db, 'truncate accounts, dm_queue, posts, sync_jobs, webhook_endpoints cascade');
    account = await insertAccount(ctx.db);
    const [e] = await sql<{ id: string }>(
      ctx.db,
      `insert into webhook_endpoints (url, secret) values ('https://example.com/h', 'whsec_' || repeat('A', 32)) returning id`,
    );
    endpoint = e!.id;
  };

  for (const q of QUEUES) {
    describe(q.queue, () => {
      // Account sync has no done outcome to settle: a fetched page completes through commit_sync_page.
      test.each(CASES.filter((c) => q.queue !== 'sync' || c.outcome !== 'success'))('$name', async (c) => {
        await reset();
        const [policy] = await sql<{ retry_after_max_seconds: number }>(
          ctx.db,
          'select retry_after_max_seconds from queue_policies where queue = $1',
          [q.queue],
        );
        const id = await q.insert(ctx.db, c.attempts);
        await q.settle(ctx.db, outcomeFor(c, id));
        const row = await q.read(ctx.db, id);
        const e = typeof c.expected === 'function' ? c.expected(q) : c.expected;
        expect(row.status).toBe(q.statuses[e.state]);
        expect(row.attempts).toBe(e.attempts);
        const delay = e.delay === 'bound' ? policy!.retry_after_max_seconds : e.delay;
        if (delay === null) {
          expect(row.next).toBeNull();
        } else {
          expect(Date.parse(row.next!) - NOW.getTime()).toBe(delay * 1000);
        }
        if (e.error === null) expect(row.error).toBeNull();
        else if (e.error) expect(row.error).toMatch(e.error);
      });

      test('a row held by another run is left alone', async () => {
        await reset();
        const id = await q.insert(ctx.db, 1);
        const before = await q.read(ctx.db, id);
        await q.settle(ctx.db, { id, outcome: 'failed', error: 'late' }, OTHER_RUN);
        expect(await q.read(ctx.db, id)).toEqual(before);
      });
    });
  }

  test('the policy is the queue row: changing it changes the next state, an override wins for one call', async () => {
    await reset();
    await sql(ctx.db, "update queue_policies set max_attempts = 2, backoff_seconds = '{7}' where queue = 'dm'");
    try {
      const dm = QUEUES[0]!;
      const first = await dm.insert(ctx.db, 1);
      await dm.settle(ctx.db, { id: first, outcome: 'retry', error: 'x' });
      expect(Date.parse((await dm.read(ctx.db, first)).next!) - NOW.getTime()).toBe(7_000);
      const second = await dm.insert(ctx.db, 2);
      await dm.settle(ctx.db, { id: second, outcome: 'retry', error: 'x' });
      expect((await dm.read(ctx.db, second)).status).toBe('failed');
      const third = await dm.insert(ctx.db, 2);
      await settleDms(ctx.db, {
        runId: RUN,
        now: NOW,
        policy: { maxAttempts: 3, backoffSeconds: [11, 13] },
        outcomes: [{ id: third, outcome: 'retry', error: 'x' }],
      });
      const row = await dm.read(ctx.db, third);
      expect(row.status).toBe('pending');
      expect(Date.parse(row.next!) - NOW.getTime()).toBe(13_000);
    } finally {
      await sql(
        ctx.db,
        "update queue_policies set max_attempts = 5, backoff_seconds = '{60,300,1800,21600}' where queue = 'dm'",
      );
    }
  });

  test('one hostile outcome cannot fail the settle of the batch', async () => {
    await reset();
    const dm = QUEUES[0]!;
    const ids = [await dm.insert(ctx.db, 1), await dm.insert(ctx.db, 1), await dm.insert(ctx.db, 1)];
    const counts = await settleDms(ctx.db, {
      runId: RUN,
      now: NOW,
      outcomes: [
        { id: ids[0]!, outcome: 'success', result: { chatId: 'c', messageId: 'm' } },
        {
          id: ids[1]!,
          outcome: 'retry',
          error: `nul \u0000 and a lone \ud800 surrogate`,
          retryAfterMs: Number.POSITIVE_INFINITY,
        },
        { id: ids[2]!, outcome: 'retry', error: 'x'.repeat(100_000), code: 'c'.repeat(5_000), retryAfterMs: 1e300 },
      ],
    });
    expect(counts).toMatchObject({ succeeded: 1, retried: 2 });
    const rows = await Promise.all(ids.map((id) => dm.read(ctx.db, id)));
    expect(rows.map((r) => r.status)).toEqual(['sent', 'pending', 'pending']);
    expect(rows[1]!.error).toBe('nul  and a lone \ufffd surrogate');
    expect(Date.parse(rows[1]!.next!) - NOW.getTime()).toBe(60_000);
    expect(rows[2]!.error!.length).toBeLessThanOrEqual(1100);
    expect(Date.parse(rows[2]!.next!) - NOW.getTime()).toBe(86_400_000);
  });

  test('queue_outcomes ignores elements whose id is not a uuid and bounds what it reads', async () => {
    const rows = await sql<{ id: string | null; retry_after_ms: string | null; error: string }>(
      ctx.db,
      `select id, retry_after_ms::text, error from queue_outcomes($1::text::jsonb)`,
      [
        JSON.stringify([
          { id: 'not-a-uuid', outcome: 'retry', retryAfterMs: 'soon' },
          { id: RUN, outcome: 'retry', retryAfterMs: 1e30, error: '' },
        ]),
      ],
    );
    expect(rows).toEqual([
      { id: null, retry_after_ms: null, error: 'retry' },
      { id: RUN, retry_after_ms: '1000000000000000', error: 'retry' },
    ]);
  });
});

describe('toSettleRecords / countDecisions', () => {
  test('per-queue options map uncertain and key outcomes; codes and text are cleaned', () => {
    const outcomes: Outcome<{ x: number }>[] = [
      { id: 'a', outcome: 'uncertain', error: 'timeout', code: 'timeout' },
      { id: 'b', outcome: 'key', error: 'gone', keyStatus: 'disconnected' },
      { id: 'c', outcome: 'success', result: { x: 1 } },
    ];
    expect(toSettleRecords(outcomes, { result: (r) => ({ x: r.x }) }).map((r) => r.outcome)).toEqual([
      'uncertain',
      'key',
      'done',
    ]);
    const webhook = toSettleRecords(outcomes, { uncertain: 'retry', key: 'retry', code: false });
    expect(webhook.map((r) => [r.outcome, r.code, r.keyStatus])).toEqual([
      ['retry', undefined, undefined],
      ['retry', undefined, undefined],
      ['done', undefined, undefined],
    ]);
    expect(cleanText('a\u0000b')).toBe('ab');
    expect(
      countDecisions([{ decision: 'done' }, { decision: 'key' }, { decision: 'released' }, { decision: 'retry' }]),
    ).toEqual({ succeeded: 1, failed: 0, retried: 1, uncertain: 0, released: 2 });
  });
});
