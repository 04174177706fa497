import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { GET as cronGet } from '../app/api/cron/sync-jobs/route.ts';
import { GET } from '../app/api/sync-jobs/[id]/route.ts';
import { POST } from '../app/api/sync-jobs/route.ts';
import { syncJobs } from '../jobs/sync-jobs.ts';
import { PermanentError, RetryableError } from '../lib/cron/errors.ts';
import { runJob } from '../lib/cron/run.ts';
import { setDb } from '../lib/db/index.ts';
import { openSupabase } from '../lib/db/supabase.ts';
import type { Db } from '../lib/db/types.ts';
import { AccountError } from '../lib/providers/errors.ts';
import { setProvider } from '../lib/providers/index.ts';
import type { LinkedInProvider, Relation } from '../lib/providers/types.ts';
import { setSyncScheduler } from '../lib/sync/kick.ts';
import { claimSyncJobs } from '../lib/sync/queries.ts';
import { forEachEngine, freshDb, sql } from './helpers/db.ts';
import { fakeProvider } from './helpers/fake-provider.ts';
import { insertAccount } from './helpers/fixtures.ts';
import { forbidInLogs } from './helpers/logs.ts';
import { postgrestHandlers } from './helpers/postgrest.ts';

const API_KEY = 'sync-test-app-api-key-do-not-log';
forbidInLogs(API_KEY);

const T0 = Date.parse('2026-03-02T09:00:00Z');

/** A movable clock: the provider advances it per page, so budgets are exact without sleeping. */
function clock(start = T0) {
  let t = start;
  return { now: () => new Date(t), advance: (ms: number) => (t += ms), set: (ms: number) => (t = ms) };
}

interface PagedOptions {
  pages: number | ((providerAccountId: string) => number);
  perPage?: number;
  latencyMs?: number;
  timeoutMs?: number;
  /** Called on every fetch before it answers (moves a clock, injects an error). */
  onFetch?: (input: { accountId: string; cursor: string | null }, n: number) => Error | undefined;
}

/** Cursors `c1`, `c2`, …: page k is asked for with `c<k-1>` (null for the first); fetches are counted per cursor. */
function pagedProvider(o: PagedOptions): LinkedInProvider & { fetches: Map<string, number> } {
  const perPage = o.perPage ?? 10;
  const fetches = new Map<string, number>();
  return {
    ...fakeProvider({ timeoutMs: o.timeoutMs ?? 1_000 }),
    fetches,
    async listRelations(input) {
      const key = `${input.accountId}:${input.cursor ?? 'start'}`;
      const n = (fetches.get(key) ?? 0) + 1;
      fetches.set(key, n);
      if (o.latencyMs) await new Promise((r) => setTimeout(r, o.latencyMs));
      const error = o.onFetch?.(input, n);
      if (error) throw error;
      const page = input.cursor === null ? 1 : Number(input.cursor.slice(1)) + 1;
      const total = typeof o.pages === 'function' ? o.pages(input.accountId) : o.pages;
      const items: Relation[] = Array.from({ length: Math.min(perPage, input.limit) }, (_, i) => ({
        memberId: `${input.accountId}-m${(page - 1) * perPage + i}`,
        name: `Member ${(page - 1) * perPage + i}`,
        headline: i % 2 ? 'Engineer' : null,
        publicIdentifier: `member-${(page - 1) * perPage + i}`,
        connectedAt: i % 3 ? '2024-05-01T10:00:00Z' : 'not a date',
      }));
      return { items, cursor: page < total ? `c${page}` : null };
    },
  };
}

const providerIdOf = async (db: Db, accountId: string) =>
  (await sql<{ p: string }>(db, 'select unipile_account_id as p from accounts where id = $1', [accountId]))[0]!.p;

const jobRow = async (db: Db, id: string) =>
  (
    await sql<{
      status: string;
      pages: number;
      items: number;
      cursor: string | null;
      error: string | null;
      attempts: number;
      next_attempt_at: string | null;
      lease_until: string | null;
    }>(
      db,
      'select status, pages, items, cursor, error, attempts, next_attempt_at, lease_until from sync_jobs where id = $1',
      [id],
    )
  )[0]!;

const enqueue = async (db: Db, accountId: string, at = new Date(T0)) =>
  (await db.rpc<{ id: string }>('enqueue_sync_job', { p_account_id: accountId, p_kind: 'relations', p_now: at }))[0]!
    .id;

const request = (method: string, path: string, body?: unknown, key: string | null = API_KEY) =>
  new Request(`http://localhost${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(key === null ? {} : { authorization: `Bearer ${key}` }) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
/** A body of `total` bytes made on demand in 64 KiB chunks, counting what the reader pulled. */
function countingBody(total: number) {
  const chunk = new Uint8Array(64 * 1024).fill(0x20);
  const counter = { pulled: 0 };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const n = Math.min(chunk.byteLength, total - counter.pulled);
      if (n <= 0) return controller.close();
      counter.pulled += n;
      controller.enqueue(chunk.subarray(0, n));
    },
  });
  return { stream, counter };
}
const streamed = (body: ReadableStream<Uint8Array>, headers: Record<string, string> = {}) =>
  new Request('http://localhost/api/sync-jobs', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}`, ...headers },
    body,
    duplex: 'half',
  } as RequestInit);

const status = (id: string, key: string | null = API_KEY) =>
  GET(request('GET', `/api/sync-jobs/${id}`, undefined, key), { params: Promise.resolve({ id }) });

forEachEngine('sync jobs', (ctx) => {
  const reset = () => sql(ctx.db, 'truncate accounts, sync_jobs, job_runs, cron_state, webhook_endpoints cascade');
  const tasks: (() => Promise<void>)[] = [];

  beforeAll(() => {
    setSyncScheduler((task) => tasks.push(task));
  });
  beforeEach(async () => {
    await reset();
    setDb(ctx.db);
    tasks.length = 0;
    process.env.APP_API_KEY = API_KEY;
  });
  afterEach(() => {
    setProvider(undefined);
    delete process.env.APP_API_KEY;
    delete process.env.SYNC_BATCH_SIZE;
  });
  afterAll(() => {
    setSyncScheduler(undefined);
    setDb(undefined);
  });

  describe('API', () => {
    test.each([
      ['missing', null],
      ['wrong key', 'not-the-app-api-key-at-all'],
      ['Bearer undefined', 'undefined'],
    ])('401 when the key is %s, on both routes', async (_name, key) => {
      const account = await insertAccount(ctx.db);
      const res = await POST(request('POST', '/api/sync-jobs', { accountId: account, kind: 'relations' }, key));
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ error: 'unauthorized' });
      expect((await status('00000000-0000-4000-8000-000000000000', key)).status).toBe(401);
      expect(await sql(ctx.db, 'select 1 from sync_jobs')).toHaveLength(0);
    });

    test('500 when APP_API_KEY is unset or too short: fail closed', async () => {
      const account = await insertAccount(ctx.db);
      for (const value of [undefined, 'short']) {
        if (value === undefined) delete process.env.APP_API_KEY;
        else process.env.APP_API_KEY = value;
        for (const key of ['undefined', '', value ?? 'x']) {
          const res = await POST(request('POST', '/api/sync-jobs', { accountId: account, kind: 'relations' }, key));
          expect(res.status).toBe(500);
          expect((await res.json()).error).toMatch(/APP_API_KEY is (not configured|too short)/);
        }
      }
      expect(await sql(ctx.db, 'select 1 from sync_jobs')).toHaveLength(0);
    });

    test.each([
      ['not JSON', '{"accountId":', /body: must be JSON/],
      ['an array', [], /expected object/i],
      ['no accountId', { kind: 'relations' }, /accountId/],
      ['a malformed accountId', { accountId: 'abc', kind: 'relations' }, /accountId: accountId must be a UUID/],
      ['an unknown kind', { accountId: '5f0c8a52-7a6e-4a0b-9d1e-2b6f3c4d5e6f', kind: 'posts' }, /kind/],
      ['no kind', { accountId: '5f0c8a52-7a6e-4a0b-9d1e-2b6f3c4d5e6f' }, /kind/],
      ['an extra key', { accountId: '5f0c8a52-7a6e-4a0b-9d1e-2b6f3c4d5e6f', kind: 'relations', x: 1 }, /x/],
    ])('400 with the zod message for %s', async (_name, body, message) => {
      const res = await POST(request('POST', '/api/sync-jobs', body));
      expect(res.status).toBe(400);
      expect((await res.json()).error).toMatch(message);
    });

    test('a 64 MiB body declared in content-length → 413 before it is read', async () => {
      const { stream, counter } = countingBody(64 * 1024 * 1024);
      const res = await POST(streamed(stream, { 'content-length': String(64 * 1024 * 1024) }));
      // At most the one chunk a stream pulls on its own when it is created.
      expect(counter.pulled).toBeLessThanOrEqual(64 * 1024);
      expect({ status: res.status, body: await res.json() }).toEqual({
        status: 413,
        body: { error: 'body: larger than 4096 bytes' },
      });
      expect(await sql(ctx.db, 'select 1 from sync_jobs')).toHaveLength(0);
    });

    test.each([
      ['no content-length (chunked)', {}],
      ['a content-length that lies (10)', { 'content-length': '10' }],
    ])('a 64 MiB body with %s → 413 after at most 4 KiB and one chunk were read', async (_name, headers) => {
      const { stream, counter } = countingBody(64 * 1024 * 1024);
      const res = await POST(streamed(stream, headers));
      expect(counter.pulled).toBeLessThanOrEqual(4096 + 2 * 64 * 1024);
      expect({ status: res.status, body: await res.json() }).toEqual({
        status: 413,
        body: { error: 'body: larger than 4096 bytes' },
      });
      expect(await sql(ctx.db, 'select 1 from sync_jobs')).toHaveLength(0);
    });

    test('the cap counts bytes, not characters: 4,000 × "é" (8,000 bytes) → 413; 4,096 bytes pass, 4,097 do not', async () => {
      const res = await POST(request('POST', '/api/sync-jobs', 'é'.repeat(4000)));
      expect({ status: res.status, body: await res.json() }).toEqual({
        status: 413,
        body: { error: 'body: larger than 4096 bytes' },
      });
      // Exactly at the cap the body is read and parsed.
      const account = await insertAccount(ctx.db);
      const json = JSON.stringify({ accountId: account, kind: 'relations' });
      const atCap = json + ' '.repeat(4096 - Buffer.byteLength(json));
      const ok = await POST(request('POST', '/api/sync-jobs', atCap));
      expect(ok.status).toBe(202);
      expect(await POST(request('POST', '/api/sync-jobs', `${atCap} `))).toHaveProperty('status', 413);
    });

    test('a content-length that is not a number → 400', async () => {
      const { stream } = countingBody(100);
      const res = await POST(streamed(stream, { 'content-length': 'lots' }));
      expect(res.status).toBe(400);
      expect((await res.json()).error).toMatch(/content-length/);
    });

    test('404 for an unknown account; 404 for an unknown or malformed job id', async () => {
      const res = await POST(request('POST', '/api/sync-jobs', { accountId: crypto.randomUUID(), kind: 'relations' }));
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ error: 'account not found' });
      for (const id of [crypto.randomUUID(), 'not-a-uuid', "1' or '1'='1", '']) {
        const r = await status(id);
        expect(r.status).toBe(404);
      }
    });

    test('202 queued → kick runs the first slice after the response → 200 completed with progress', async () => {
      const account = await insertAccount(ctx.db);
      setProvider(pagedProvider({ pages: 3, perPage: 7 }));
      const res = await POST(request('POST', '/api/sync-jobs', { accountId: account, kind: 'relations' }));
      expect(res.status).toBe(202);
      const body = await res.json();
      expect(body).toEqual({ id: expect.any(String), status: 'queued' });
      expect(res.headers.get('location')).toBe(`/api/sync-jobs/${body.id}`);
      // Nothing ran before the response: the work is scheduled.
      expect((await jobRow(ctx.db, body.id)).status).toBe('queued');
      const queued = await (await status(body.id)).json();
      expect(queued).toMatchObject({ id: body.id, accountId: account, kind: 'relations', status: 'queued' });
      expect(queued.progress).toEqual({ pages: 0, items: 0 });

      expect(tasks).toHaveLength(1);
      await tasks[0]!();
      const done = await status(body.id);
      expect(done.status).toBe(200);
      const view = await done.json();
      expect(view).toEqual({
        id: body.id,
        accountId: account,
        kind: 'relations',
        status: 'completed',
        progress: { pages: 3, items: 21 },
        error: null,
        createdAt: expect.stringMatching(/Z$/),
        updatedAt: expect.stringMatching(/Z$/),
        finishedAt: expect.stringMatching(/Z$/),
      });
      expect(await sql(ctx.db, 'select 1 from linkedin_relations where account_id = $1', [account])).toHaveLength(21);
      const runs = await sql<{ job: string; trigger: string }>(ctx.db, 'select job, trigger from job_runs');
      expect(runs).toEqual([{ job: 'sync-jobs', trigger: 'manual' }]);

      // Finished: a new request starts a new job.
      const again = await POST(request('POST', '/api/sync-jobs', { accountId: account, kind: 'relations' }));
      expect(again.status).toBe(202);
      expect((await again.json()).id).not.toBe(body.id);
    });

    test('the cron route drains queued jobs with the cron secret', async () => {
      const secret = 'sync-test-cron-secret-0123456789';
      forbidInLogs(secret);
      process.env.CRON_SECRET = secret;
      try {
        const id = await enqueue(ctx.db, await insertAccount(ctx.db));
        setProvider(pagedProvider({ pages: 2 }));
        const res = await cronGet(
          new Request('http://localhost/api/cron/sync-jobs', {
            headers: { authorization: `Bearer ${secret}`, 'user-agent': 'vercel-cron/1.0' },
          }),
        );
        expect(res.status).toBe(200);
        expect(await res.json()).toMatchObject({ job: 'sync-jobs', trigger: 'cron', status: 'ok', succeeded: 2 });
        expect((await jobRow(ctx.db, id)).status).toBe('completed');
      } finally {
        delete process.env.CRON_SECRET;
      }
    });

    test('an identical job queued or running → 200 with that job, never a duplicate (10 concurrent requests)', async () => {
      const account = await insertAccount(ctx.db);
      const responses = await Promise.all(
        Array.from({ length: 10 }, () =>
          POST(request('POST', '/api/sync-jobs', { accountId: account, kind: 'relations' })),
        ),
      );
      const statuses = responses.map((r) => r.status).sort();
      expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 202]);
      const bodies = await Promise.all(responses.map((r) => r.json()));
      expect(new Set(bodies.map((b) => b.id)).size).toBe(1);
      expect(bodies.find((b) => b.progress)).toMatchObject({ status: 'queued', accountId: account });
      expect(await sql(ctx.db, 'select 1 from sync_jobs')).toHaveLength(1);
      expect(tasks).toHaveLength(1); // only the new job kicks a run
    });
  });

  describe('job', () => {
    test('a 5-page sync driven by small budgets: monotonic progress, no page fetched twice', async () => {
      const account = await insertAccount(ctx.db);
      const c = clock();
      // Each page takes 2 s of the run's clock; a 7 s budget fits two pages (an item needs 3 s + margin to start).
      const provider = pagedProvider({ pages: 5, perPage: 10, onFetch: () => void c.advance(2_000) });
      setProvider(provider);
      const id = await enqueue(ctx.db, account);
      const progress: number[] = [];
      for (let run = 0; run < 10; run++) {
        const summary = await runJob(syncJobs, { db: ctx.db, trigger: 'cron', budgetMs: 7_000, now: c.now });
        const row = await jobRow(ctx.db, id);
        progress.push(row.pages);
        if (row.status === 'completed') break;
        expect(summary).toMatchObject({ status: 'partial', hasMore: true });
        c.advance(60_000);
      }
      expect(progress).toEqual([2, 4, 5]);
      expect([...provider.fetches.values()].every((n) => n === 1)).toBe(true);
      expect(provider.fetches.size).toBe(5);
      expect(await jobRow(ctx.db, id)).toMatchObject({ status: 'completed', pages: 5, items: 50, cursor: null });
      const rows = await sql<{ n: number; dated: number }>(
        ctx.db,
        'select count(*)::int as n, count(connected_at)::int as dated from linkedin_relations where account_id = $1',
        [account],
      );
      // Unparseable connectedAt values became null instead of failing the page.
      expect(rows[0]!.n).toBe(50);
      expect(rows[0]!.dated).toBeLessThan(50);
    });

    test('a page of 50 relations with one created_at of 0000-01-01T00:00:00Z: 50 stored, that one undated, the job completes', async () => {
      const account = await insertAccount(ctx.db);
      const items: Relation[] = Array.from({ length: 50 }, (_, i) => ({
        memberId: `m${i}`,
        name: `Member ${i}`,
        headline: null,
        publicIdentifier: `member-${i}`,
        // A common null-date: Date.parse accepts it, PostgreSQL has no year 0.
        connectedAt: i === 17 ? '0000-01-01T00:00:00Z' : '2024-05-01T10:00:00Z',
      }));
      setProvider({ ...fakeProvider(), listRelations: async () => ({ items, cursor: null }) });
      const id = await enqueue(ctx.db, account);
      const summary = await runJob(syncJobs, { db: ctx.db, trigger: 'cron', budgetMs: 30_000, now: clock().now });
      expect(await jobRow(ctx.db, id)).toMatchObject({ status: 'completed', pages: 1, items: 50, error: null });
      expect(summary).toMatchObject({ succeeded: 1, failed: 0, retried: 0 });
      const rows = await sql<{ member_id: string; connected_at: string | null }>(
        ctx.db,
        'select member_id, connected_at from linkedin_relations where account_id = $1',
        [account],
      );
      expect(rows).toHaveLength(50);
      expect(rows.filter((r) => r.connected_at === null).map((r) => r.member_id)).toEqual(['m17']);
    });

    test('commit_sync_page stores a date PostgreSQL cannot read as null instead of failing the page', async () => {
      const account = await insertAccount(ctx.db);
      const id = await enqueue(ctx.db, account);
      const [job] = await claimSyncJobs(ctx.db, {
        limit: 1,
        leaseSeconds: 60,
        runId: crypto.randomUUID(),
        now: clock().now(),
      });
      const bad = [
        '0000-01-01T00:00:00Z',
        '+010000-01-01T00:00:00.000Z',
        '-000001-01-01T00:00:00.000Z',
        'not a date',
        '2024-02-30',
      ];
      const items = [...bad, '2024-05-01T10:00:00Z'].map((connectedAt, i) => ({ memberId: `m${i}`, connectedAt }));
      const committed = await ctx.db.rpc<{ applied: boolean; status: string; items: number }>('commit_sync_page', {
        p_job_id: id,
        p_expected_pages: job!.pages,
        p_expected_cursor: job!.cursor,
        p_next_cursor: null,
        p_items: items,
        p_now: clock().now(),
      });
      expect(committed).toEqual([{ applied: true, status: 'completed', pages: 1, items: 6 }]);
      const rows = await sql<{ member_id: string; connected_at: Date | string | null }>(
        ctx.db,
        'select member_id, connected_at from linkedin_relations where account_id = $1 order by member_id',
        [account],
      );
      expect(
        rows.map((r) => [r.member_id, r.connected_at === null ? null : new Date(r.connected_at).toISOString()]),
      ).toEqual([
        ['m0', null],
        ['m1', null],
        ['m2', null],
        ['m3', null],
        ['m4', null],
        ['m5', '2024-05-01T10:00:00.000Z'],
      ]);
    });

    test('a crash in the commit of page 3 resumes at the committed cursor: only page 3 is fetched twice', async () => {
      const account = await insertAccount(ctx.db);
      const providerId = await providerIdOf(ctx.db, account);
      const provider = pagedProvider({ pages: 5 });
      setProvider(provider);
      const id = await enqueue(ctx.db, account);
      let injected = 0;
      const db: Db = {
        ...ctx.db,
        rpc: (fn, args) => {
          if (fn === 'commit_sync_page' && args?.p_expected_pages === 2 && injected++ === 0) {
            return Promise.reject(new Error('connection lost during commit (injected)'));
          }
          return ctx.db.rpc(fn, args);
        },
      };
      const c = clock();
      const first = await runJob(syncJobs, { db, trigger: 'cron', budgetMs: 30_000, now: c.now });
      expect(first.retried).toBe(1);
      const after = await jobRow(ctx.db, id);
      expect(after).toMatchObject({ status: 'running', pages: 2, items: 20, cursor: 'c2', lease_until: null });
      expect(after.error).toMatch(/injected/);
      expect(new Date(after.next_attempt_at!).getTime()).toBe(T0 + 60_000);

      // Not before its backoff ...
      await runJob(syncJobs, { db, trigger: 'cron', budgetMs: 30_000, now: c.now });
      expect((await jobRow(ctx.db, id)).pages).toBe(2);
      // ... then exactly from the committed cursor.
      c.advance(61_000);
      await runJob(syncJobs, { db, trigger: 'cron', budgetMs: 30_000, now: c.now });
      expect(await jobRow(ctx.db, id)).toMatchObject({ status: 'completed', pages: 5, items: 50, error: null });
      expect(Object.fromEntries(provider.fetches)).toEqual({
        [`${providerId}:start`]: 1,
        [`${providerId}:c1`]: 1,
        [`${providerId}:c2`]: 2,
        [`${providerId}:c3`]: 1,
        [`${providerId}:c4`]: 1,
      });
    });

    test('a killed run: its lease expires and the next run resumes at the committed cursor', async () => {
      const account = await insertAccount(ctx.db);
      const provider = pagedProvider({ pages: 3 });
      setProvider(provider);
      const id = await enqueue(ctx.db, account);
      const c = clock();
      await runJob(syncJobs, { db: ctx.db, trigger: 'cron', budgetMs: 30_000, limit: 1, now: c.now });
      // A run claims the job and dies before committing (nothing settles its lease).
      const [held] = await claimSyncJobs(ctx.db, {
        limit: 5,
        leaseSeconds: 60,
        runId: crypto.randomUUID(),
        now: c.now(),
      });
      expect(held).toMatchObject({ id, pages: 1, cursor: 'c1' });
      const blocked = await runJob(syncJobs, { db: ctx.db, trigger: 'cron', budgetMs: 30_000, now: c.now });
      expect(blocked.claimed).toBe(0);
      c.advance(61_000);
      await runJob(syncJobs, { db: ctx.db, trigger: 'cron', budgetMs: 30_000, now: c.now });
      expect(await jobRow(ctx.db, id)).toMatchObject({ status: 'completed', pages: 3, items: 30 });
      expect([...provider.fetches.values()].every((n) => n === 1)).toBe(true);
    });

    test('several jobs advance fairly: each gets a page before any gets a second', async () => {
      process.env.SYNC_BATCH_SIZE = '2';
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        ids.push(await enqueue(ctx.db, await insertAccount(ctx.db), new Date(T0 + i)));
      }
      setProvider(pagedProvider({ pages: 4 }));
      const c = clock();
      await runJob(syncJobs, { db: ctx.db, trigger: 'cron', budgetMs: 30_000, limit: 3, now: c.now });
      const pages = await Promise.all(ids.map(async (id) => (await jobRow(ctx.db, id)).pages));
      expect(pages).toEqual([1, 1, 1]);
      c.advance(1_000);
      const summary = await runJob(syncJobs, { db: ctx.db, trigger: 'cron', budgetMs: 30_000, now: c.now });
      expect(summary).toMatchObject({ status: 'ok', claimed: 9, succeeded: 9, remaining: 0 });
      expect(summary.details).toMatchObject({ relations: 90, completed: 3 });
      for (const id of ids) expect(await jobRow(ctx.db, id)).toMatchObject({ status: 'completed', pages: 4 });
    });

    test('provider errors: transient → backoff then failed after max attempts; permanent → failed; account → failed + account marked', async () => {
      const flaky = await insertAccount(ctx.db);
      const invalid = await insertAccount(ctx.db);
      const gone = await insertAccount(ctx.db);
      const [flakyP, invalidP, goneP] = await Promise.all([flaky, invalid, gone].map((a) => providerIdOf(ctx.db, a)));
      setProvider(
        pagedProvider({
          pages: 3,
          onFetch: (input) => {
            if (input.accountId === flakyP && input.cursor === 'c1')
              return new RetryableError('Unipile listRelations failed with HTTP 503', { code: 'http_503' });
            if (input.accountId === invalidP)
              return new PermanentError('Unipile listRelations failed with HTTP 422', { code: 'errors/invalid' });
            if (input.accountId === goneP)
              return new AccountError('Unipile listRelations failed with HTTP 401', {
                code: 'errors/disconnected_account',
                accountStatus: 'disconnected',
              });
            return undefined;
          },
        }),
      );
      const flakyJob = await enqueue(ctx.db, flaky);
      const invalidJob = await enqueue(ctx.db, invalid);
      const goneJob = await enqueue(ctx.db, gone);
      const c = clock();
      const first = await runJob(syncJobs, { db: ctx.db, trigger: 'cron', budgetMs: 30_000, now: c.now });
      expect(first).toMatchObject({ succeeded: 1, failed: 2, retried: 1 });
      expect(await jobRow(ctx.db, invalidJob)).toMatchObject({
        status: 'failed',
        error: 'errors/invalid: Unipile listRelations failed with HTTP 422',
      });
      expect((await jobRow(ctx.db, goneJob)).error).toMatch(/^account disconnected: errors\/disconnected_account/);
      const accounts = await sql<{ status: string }>(ctx.db, 'select status from accounts where id = $1', [gone]);
      expect(accounts[0]!.status).toBe('disconnected');

      // The flaky job waits +1 min, +5 min, +30 min, +6 h between attempts, and fails after the fifth.
      const waits: number[] = [];
      for (let attempt = 2; attempt <= 6; attempt++) {
        const row = await jobRow(ctx.db, flakyJob);
        if (row.status === 'failed') break;
        expect(row).toMatchObject({ status: 'running', pages: 1 });
        expect(row.error).toMatch(/http_503/);
        const due = new Date(row.next_attempt_at!).getTime();
        waits.push((due - c.now().getTime()) / 1000);
        c.set(due - 1_000);
        expect((await runJob(syncJobs, { db: ctx.db, trigger: 'cron', budgetMs: 30_000, now: c.now })).claimed).toBe(0);
        c.set(due);
        await runJob(syncJobs, { db: ctx.db, trigger: 'cron', budgetMs: 30_000, now: c.now });
      }
      expect(waits).toEqual([60, 300, 1800, 21_600]);
      const failed = await jobRow(ctx.db, flakyJob);
      expect(failed).toMatchObject({ status: 'failed', pages: 1 });
      expect(failed.error).toMatch(/^gave up after 5 attempts: http_503/);
    });

    test('completion emits sync.completed in the same transaction as the status change', async () => {
      await sql(
        ctx.db,
        `insert into webhook_endpoints (url, secret, events) values
           ('https://hooks.example.com/a', 'whsec_' || encode(sha256('a'), 'base64'), array['sync.completed']),
           ('https://hooks.example.com/b', 'whsec_' || encode(sha256('b'), 'base64'), array['dm.sent'])`,
      );
      const account = await insertAccount(ctx.db);
      setProvider(pagedProvider({ pages: 2, perPage: 4 }));
      const id = await enqueue(ctx.db, account);
      await runJob(syncJobs, { db: ctx.db, trigger: 'cron', budgetMs: 30_000, now: clock().now });
      const deliveries = await sql<{ event_type: string; payload: { type: string; data: Record<string, unknown> } }>(
        ctx.db,
        'select event_type, payload from webhook_deliveries',
      );
      expect(deliveries).toHaveLength(1);
      expect(deliveries[0]!.payload).toMatchObject({
        type: 'sync.completed',
        data: { syncJobId: id, accountId: account, kind: 'relations', status: 'completed', pages: 2, items: 8 },
      });
    });

    test('measure: relations per second of one invocation, provider 100 ms per page, page size 100', async () => {
      const accounts: string[] = [];
      for (let i = 0; i < 8; i++) accounts.push(await insertAccount(ctx.db));
      const provider = pagedProvider({ pages: 10_000, perPage: 100, latencyMs: 100, timeoutMs: 2_000 });
      setProvider(provider);
      const rate = async (jobs: number) => {
        await sql(ctx.db, 'truncate sync_jobs, linkedin_relations');
        provider.fetches.clear();
        for (const a of accounts.slice(0, jobs)) await enqueue(ctx.db, a);
        const s = await runJob(syncJobs, { db: ctx.db, trigger: 'manual', budgetMs: 8_000 });
        const relations = Number(s.details?.relations);
        const stored = await sql<{ n: number }>(ctx.db, 'select count(*)::int as n from linkedin_relations');
        expect(stored[0]!.n).toBe(relations);
        expect([...provider.fetches.values()].every((n) => n === 1)).toBe(true);
        return { relations, perSecond: Math.round((relations / s.durationMs) * 1000), durationMs: s.durationMs };
      };
      const one = await rate(1);
      const eight = await rate(8);
      expect(one.perSecond).toBeGreaterThan(100);
      console.log(
        `[measure ${ctx.engine}] page size 100, 100 ms/page: 1 job ${one.perSecond} relations/s (${one.relations} in ${one.durationMs} ms); ` +
          `8 jobs ${eight.perSecond} relations/s (${eight.relations} in ${eight.durationMs} ms)`,
      );
    });
  });
});

describe('sync jobs over supabase-js (PostgREST stub on PGlite)', () => {
  const SUPABASE_URL = 'http://supabase.test';
  const SERVICE_KEY = 'sync-test-service-role-key';
  forbidInLogs(SERVICE_KEY);
  const server = setupServer();
  let admin: Db;
  let db: Db;
  let dispose: () => Promise<void>;

  beforeAll(async () => {
    const fresh = await freshDb('pglite');
    admin = fresh.db;
    server.listen({ onUnhandledFrame: 'error' });
    server.use(...postgrestHandlers(SUPABASE_URL, SERVICE_KEY, admin));
    db = openSupabase(SUPABASE_URL, SERVICE_KEY);
    dispose = async () => {
      server.close();
      await db.close();
      await fresh.dispose();
    };
  });
  afterAll(async () => {
    setProvider(undefined);
    await dispose();
  });

  test('enqueue, a 3-page sync with a failed commit, resume and completion run the same SQL over .rpc()', async () => {
    const account = await insertAccount(admin);
    const provider = pagedProvider({ pages: 3, perPage: 5 });
    setProvider(provider);
    const [queued] = await db.rpc<{ id: string; created: boolean }>('enqueue_sync_job', {
      p_account_id: account,
      p_kind: 'relations',
    });
    expect(queued).toMatchObject({ created: true });
    let injected = 0;
    const flaky: Db = {
      ...db,
      rpc: (fn, args) =>
        fn === 'commit_sync_page' && args?.p_expected_pages === 1 && injected++ === 0
          ? Promise.reject(new Error('connection lost during commit (injected)'))
          : db.rpc(fn, args),
    };
    const c = clock();
    await runJob(syncJobs, { db: flaky, trigger: 'cron', budgetMs: 30_000, now: c.now });
    expect(await jobRow(admin, queued!.id)).toMatchObject({ status: 'running', pages: 1, cursor: 'c1' });
    c.advance(61_000);
    await runJob(syncJobs, { db: flaky, trigger: 'cron', budgetMs: 30_000, now: c.now });
    const [row] = await db.rpc<{ status: string; pages: number; items: number }>('get_sync_job', { p_id: queued!.id });
    expect(row).toMatchObject({ status: 'completed', pages: 3, items: 15 });
    expect([...provider.fetches.values()].sort()).toEqual([1, 1, 2]);
  });
});
