import { afterEach, beforeEach, expect, test } from 'vitest';
import { postScheduler } from '../jobs/post-scheduler.ts';
import { PermanentError, RetryableError, UncertainError } from '../lib/cron/errors.ts';
import { leaseSecondsFor, runJob } from '../lib/cron/run.ts';
import type { Db } from '../lib/db/types.ts';
import { claimDuePosts, settlePosts } from '../lib/posts/queries.ts';
import { AccountError } from '../lib/providers/errors.ts';
import { setProvider } from '../lib/providers/index.ts';
import type { LinkedInProvider, PublishPostInput } from '../lib/providers/types.ts';
import { forEachEngine, sql } from './helpers/db.ts';
import { insertAccount, statusCounts } from './helpers/fixtures.ts';

const NOW = new Date('2026-03-10T12:00:00Z');
const at = (offsetMs: number) => new Date(NOW.getTime() + offsetMs);

/** A LinkedIn that records every publish, takes `latencyMs`, and fails as `behave` says (undefined = success). */
function recordingProvider(options: { latencyMs?: number; behave?: (input: PublishPostInput) => Error | undefined }) {
  const calls: PublishPostInput[] = [];
  const provider: LinkedInProvider & { calls: PublishPostInput[] } = {
    name: 'recording',
    timeoutMs: 2_000,
    calls,
    async publishPost(input, signal) {
      calls.push(input);
      const postId = `urn:li:share:${calls.length}`;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, options.latencyMs ?? 0);
        signal.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(new UncertainError('aborted'));
        });
      });
      const error = options.behave?.(input);
      if (error) throw error;
      return { postId };
    },
    sendMessage: () => Promise.reject(new Error('not used')),
    findSentMessage: () => Promise.reject(new Error('not used')),
    listRelations: () => Promise.reject(new Error('not used')),
    sendInvitation: () => Promise.reject(new Error('not used')),
  };
  return provider;
}

async function insertPost(
  db: Db,
  accountId: string,
  input: { content: string; status?: string; scheduledFor?: Date | null; attempts?: number },
): Promise<string> {
  const rows = await sql<{ id: string }>(
    db,
    'insert into posts (account_id, content, status, scheduled_for, attempts) values ($1, $2, $3, $4, $5) returning id',
    [
      accountId,
      input.content,
      input.status ?? 'scheduled',
      input.scheduledFor === null ? null : (input.scheduledFor ?? at(-60_000)).toISOString(),
      input.attempts ?? 0,
    ],
  );
  return rows[0]!.id;
}

interface PostRow {
  id: string;
  content: string;
  status: string;
  attempts: number;
  next_attempt_at: string | null;
  last_error: string | null;
  published_at: string | null;
  provider_post_id: string | null;
  failed_at: string | null;
  updated_at: string;
}

const posts = (db: Db) =>
  sql<PostRow>(
    db,
    `select id, content, status, attempts, next_attempt_at, last_error, published_at, provider_post_id, failed_at,
            updated_at from posts`,
  );
const byContent = (rows: PostRow[]) => Object.fromEntries(rows.map((r) => [r.content, r]));
const run = (db: Db, now: Date) => runJob(postScheduler, { db, trigger: 'manual', budgetMs: 20_000, now: () => now });

forEachEngine('post-scheduler job', (ctx) => {
  beforeEach(async () => {
    await sql(ctx.db, 'truncate accounts, posts, job_runs, cron_state cascade');
  });
  afterEach(() => {
    setProvider(undefined);
    delete process.env.POST_BATCH_SIZE;
  });

  test('three concurrent runs publish every due post exactly once; drafts, cancelled and future posts are untouched', async () => {
    const accounts = await Promise.all([1, 2, 3, 4].map(() => insertAccount(ctx.db)));
    const due: string[] = [];
    for (const [i, a] of accounts.entries()) {
      for (let n = 0; n < 10; n++) {
        const content = `post ${i}-${n}`;
        // Exactly now counts as due (<=), and so does a post from last week.
        await insertPost(ctx.db, a, { content, scheduledFor: n === 0 ? NOW : at(-n * 86_400_000) });
        due.push(content);
      }
    }
    const a0 = accounts[0]!;
    await insertPost(ctx.db, a0, { content: 'draft', status: 'draft', scheduledFor: null });
    await insertPost(ctx.db, a0, { content: 'draft with time', status: 'draft' });
    await insertPost(ctx.db, a0, { content: 'cancelled', status: 'cancelled' });
    await insertPost(ctx.db, a0, { content: 'future', scheduledFor: at(1_000) });
    const paused = await insertAccount(ctx.db, { status: 'paused' });
    await insertPost(ctx.db, paused, { content: 'paused account' });
    const before = byContent(await posts(ctx.db));

    process.env.POST_BATCH_SIZE = '3'; // small batches, so the three runs interleave
    const provider = recordingProvider({ latencyMs: 15 });
    setProvider(provider);
    const summaries = await Promise.all([run(ctx.db, NOW), run(ctx.db, NOW), run(ctx.db, NOW)]);

    expect(summaries.map((s) => s.status)).toEqual(['ok', 'ok', 'ok']);
    expect(summaries.reduce((n, s) => n + s.succeeded, 0)).toBe(due.length);
    // The runs really overlapped: the work was shared, not done by whichever started first.
    expect(summaries.filter((s) => s.claimed > 0).length).toBeGreaterThanOrEqual(2);
    expect(provider.calls.map((c) => c.text).sort()).toEqual([...due].sort());
    const after = byContent(await posts(ctx.db));
    for (const content of due) {
      expect(after[content]).toMatchObject({ status: 'published', attempts: 1, last_error: null });
      expect(new Date(after[content]!.published_at!).getTime()).toBe(NOW.getTime());
      expect(after[content]!.provider_post_id).toMatch(/^urn:li:share:\d+$/);
    }
    expect(new Set(due.map((c) => after[c]!.provider_post_id)).size).toBe(due.length);
    for (const content of ['draft', 'draft with time', 'cancelled', 'future', 'paused account']) {
      expect(after[content]).toEqual(before[content]);
    }
    // A fourth run finds nothing to do.
    expect(await run(ctx.db, NOW)).toMatchObject({ status: 'ok', claimed: 0 });
    expect(provider.calls).toHaveLength(due.length);
  });

  test('every error class lands where it should, and retries follow the backoff', async () => {
    const a = await insertAccount(ctx.db);
    const gone = await insertAccount(ctx.db, { unipile_account_id: 'prov-gone' });
    const noProvider = await insertAccount(ctx.db, { unipile_account_id: null });
    for (const content of ['ok', 'permanent', 'retry', 'retry-after', 'uncertain', 'unknown']) {
      await insertPost(ctx.db, a, { content });
    }
    await insertPost(ctx.db, a, { content: 'last try', attempts: 4 }); // its 5th attempt is next
    await insertPost(ctx.db, gone, { content: 'gone 1' });
    await insertPost(ctx.db, gone, { content: 'gone 2' });
    await insertPost(ctx.db, noProvider, { content: 'no provider' });

    const provider = recordingProvider({
      behave: (input) => {
        if (input.accountId === 'prov-gone')
          return new AccountError('disconnected', {
            code: 'errors/disconnected_account',
            accountStatus: 'disconnected',
          });
        switch (input.text) {
          case 'permanent':
            return new PermanentError('content refused', { code: 'errors/invalid_post' });
          case 'retry':
          case 'last try':
            return new RetryableError('provider error', { code: 'errors/provider_error' });
          case 'retry-after':
            return new RetryableError('busy', { code: 'errors/busy', retryAfterMs: 900_000 });
          case 'uncertain':
            return new UncertainError('gateway timeout', { code: 'errors/request_timeout' });
          case 'unknown':
            return new Error('socket hang up');
        }
        return undefined;
      },
    });
    setProvider(provider);
    const summary = await run(ctx.db, NOW);
    expect(summary).toMatchObject({ status: 'ok', succeeded: 1, failed: 2, retried: 2, uncertain: 2 });

    const rows = byContent(await posts(ctx.db));
    expect(rows.ok).toMatchObject({ status: 'published', attempts: 1 });
    expect(rows.permanent).toMatchObject({
      status: 'failed',
      attempts: 1,
      last_error: 'errors/invalid_post: content refused',
    });
    expect(new Date(rows.permanent!.failed_at!).getTime()).toBe(NOW.getTime());
    expect(rows.retry).toMatchObject({
      status: 'scheduled',
      attempts: 1,
      last_error: 'errors/provider_error: provider error',
    });
    expect(new Date(rows.retry!.next_attempt_at!).getTime()).toBe(NOW.getTime() + 60_000);
    expect(new Date(rows['retry-after']!.next_attempt_at!).getTime()).toBe(NOW.getTime() + 900_000);
    expect(rows['last try']).toMatchObject({ status: 'failed', attempts: 5 });
    expect(rows['last try']!.last_error).toMatch(/^gave up after 5 attempts: errors\/provider_error: provider error/);
    expect(rows.uncertain).toMatchObject({
      status: 'uncertain',
      last_error: 'errors/request_timeout: gateway timeout',
    });
    expect(rows.unknown).toMatchObject({ status: 'uncertain', last_error: 'unexpected error: socket hang up' });
    // Account-level: the posts wait, no attempt spent, the account is marked.
    for (const c of ['gone 1', 'gone 2', 'no provider'])
      expect(rows[c]).toMatchObject({ status: 'scheduled', attempts: 0 });
    const accts = await sql<{ id: string; status: string; status_reason: string | null }>(
      ctx.db,
      'select id, status, status_reason from accounts',
    );
    expect(accts.find((x) => x.id === gone)).toMatchObject({
      status: 'disconnected',
      status_reason: 'errors/disconnected_account: disconnected',
    });
    expect(accts.find((x) => x.id === noProvider)).toMatchObject({
      status: 'paused',
      status_reason: expect.stringMatching(/missing_provider_account/),
    });

    // Not before the backoff; after it, the second attempt waits +5 min.
    const calls = provider.calls.length;
    expect(await run(ctx.db, at(59_000))).toMatchObject({ claimed: 0 });
    expect(provider.calls).toHaveLength(calls);
    expect(await run(ctx.db, at(60_000))).toMatchObject({ claimed: 1, retried: 1 });
    const retry = byContent(await posts(ctx.db)).retry!;
    expect(retry).toMatchObject({ status: 'scheduled', attempts: 2 });
    expect(new Date(retry.next_attempt_at!).getTime()).toBe(NOW.getTime() + 60_000 + 300_000);
    // Reconnecting the account lets its posts go out.
    await sql(ctx.db, "update accounts set status = 'active' where id = $1", [gone]);
    setProvider(recordingProvider({}));
    expect(await run(ctx.db, at(61_000))).toMatchObject({ succeeded: 2 });
    expect(byContent(await posts(ctx.db))['gone 1']).toMatchObject({ status: 'published', attempts: 1 });
  });

  test('a 429 cools the account down: its other posts wait without spending an attempt', async () => {
    const a = await insertAccount(ctx.db, { unipile_account_id: 'prov-busy' });
    const other = await insertAccount(ctx.db);
    await insertPost(ctx.db, a, { content: 'first', scheduledFor: at(-120_000) });
    await insertPost(ctx.db, a, { content: 'second' });
    await insertPost(ctx.db, other, { content: 'elsewhere' });
    process.env.POST_BATCH_SIZE = '10';
    const provider = recordingProvider({
      behave: (input) =>
        input.accountId === 'prov-busy'
          ? new RetryableError('too many requests', {
              code: 'errors/too_many_requests',
              retryAfterMs: 120_000,
              cooldownKey: true,
            })
          : undefined,
    });
    setProvider(provider);
    // Concurrency 1: 'first' (oldest) is tried before 'second', which is then released.
    process.env.POST_CONCURRENCY = '1';
    try {
      expect(await run(ctx.db, NOW)).toMatchObject({ succeeded: 1, retried: 1 });
    } finally {
      delete process.env.POST_CONCURRENCY;
    }
    const rows = byContent(await posts(ctx.db));
    expect(rows.first).toMatchObject({ status: 'scheduled', attempts: 1 });
    expect(new Date(rows.first!.next_attempt_at!).getTime()).toBe(NOW.getTime() + 120_000);
    expect(rows.second).toMatchObject({ status: 'scheduled', attempts: 0, next_attempt_at: null });
    expect(rows.elsewhere).toMatchObject({ status: 'published' });
    // 'second' is due, but the account is cooling down.
    expect(await run(ctx.db, at(60_000))).toMatchObject({ claimed: 0 });
    setProvider(recordingProvider({}));
    expect(await run(ctx.db, at(120_000))).toMatchObject({ succeeded: 2 });
  });

  test('reaper: an expired publishing lease becomes uncertain and is never re-published', async () => {
    const a = await insertAccount(ctx.db);
    await insertPost(ctx.db, a, { content: 'lost 1' });
    await insertPost(ctx.db, a, { content: 'lost 2' });
    const deadRun = '00000000-0000-4000-8000-00000000dead';
    const lease = leaseSecondsFor(postScheduler);
    // A run claims (and commits) the posts, then dies before settling.
    const claimed = await claimDuePosts(ctx.db, { limit: 10, leaseSeconds: lease, runId: deadRun, now: NOW });
    expect(claimed).toHaveLength(2);
    const provider = recordingProvider({});
    setProvider(provider);

    expect(await run(ctx.db, at(lease * 1000 - 1))).toMatchObject({ claimed: 0, details: { reaped: 0 } });
    expect(await statusCounts(ctx.db, 'posts')).toEqual({ publishing: 2 });
    expect(await run(ctx.db, at(lease * 1000))).toMatchObject({ claimed: 0, details: { reaped: 2 } });
    expect(await statusCounts(ctx.db, 'posts')).toEqual({ uncertain: 2 });
    expect(provider.calls).toHaveLength(0);
    const rows = await posts(ctx.db);
    for (const r of rows) expect(r.last_error).toMatch(/lease expired .* not re-published automatically/);

    // Later runs leave them alone; a late answer from the run that held them is still recorded.
    expect(await run(ctx.db, at(lease * 1000 + 3_600_000))).toMatchObject({ claimed: 0 });
    const policy = { maxAttempts: 5, backoffSeconds: [60, 300, 1800, 21600] };
    const late = { id: claimed[0]!.id, outcome: 'success' as const, result: { postId: 'urn:li:share:late' } };
    const otherRun = '00000000-0000-4000-8000-000000000001';
    expect(await settlePosts(ctx.db, { runId: otherRun, outcomes: [late], policy, now: NOW })).toMatchObject({
      succeeded: 0,
    });
    expect(await settlePosts(ctx.db, { runId: deadRun, outcomes: [late], policy, now: NOW })).toMatchObject({
      succeeded: 1,
    });
    expect(await statusCounts(ctx.db, 'posts')).toEqual({ published: 1, uncertain: 1 });
  });

  test('dryRun reports what is due and claims nothing', async () => {
    const a = await insertAccount(ctx.db);
    await insertPost(ctx.db, a, { content: 'one' });
    await insertPost(ctx.db, a, { content: 'two' });
    await insertPost(ctx.db, a, { content: 'later', scheduledFor: at(60_000) });
    setProvider(recordingProvider({}));
    const summary = await runJob(postScheduler, {
      db: ctx.db,
      trigger: 'manual',
      budgetMs: 5_000,
      dryRun: true,
      now: () => NOW,
    });
    expect(summary).toMatchObject({ status: 'ok', claimed: 0, remaining: 2 });
    expect(await statusCounts(ctx.db, 'posts')).toEqual({ scheduled: 3 });
  });
});
