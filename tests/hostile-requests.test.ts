import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { GET, POST } from '../app/api/cron/dm-queue/route.ts';
import { setDb } from '../lib/db/index.ts';
import type { Db } from '../lib/db/types.ts';
import { setProvider } from '../lib/providers/index.ts';
import { freshDb } from './helpers/db.ts';
import { fakeProvider } from './helpers/fake-provider.ts';
import { forbidInLogs } from './helpers/logs.ts';

const SECRET = 'hostile-test-secret-0123456789abcdef';
let db: Db;
let dispose: () => Promise<void>;
const rpcCalls: string[] = [];

beforeAll(async () => {
  const fresh = await freshDb('pglite');
  dispose = fresh.dispose;
  // Every rpc is recorded: a refused request must never reach the database.
  db = {
    ...fresh.db,
    rpc: (fn, args) => {
      rpcCalls.push(fn);
      return fresh.db.rpc(fn, args);
    },
  } as Db;
  setDb(db);
  setProvider(fakeProvider());
  forbidInLogs(SECRET);
  process.env.CRON_SECRET = SECRET;
});
afterAll(async () => {
  delete process.env.CRON_SECRET;
  setDb(undefined);
  setProvider(undefined);
  await dispose();
});

const request = (headers: Record<string, string>, query = '') =>
  new Request(`http://localhost/api/cron/dm-queue${query}`, { headers });

describe('hostile requests never get a 500 nor reach the database', () => {
  test('any Authorization header that is not exactly "Bearer <secret>" → 401, no rpc', async () => {
    const near = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.string({ unit: 'grapheme', maxLength: 60 }).map((s) => `Bearer ${s}`),
      fc.constantFrom(
        '',
        'Bearer',
        'Bearer ',
        'Bearer undefined',
        'Bearer null',
        `bearer ${SECRET}`,
        `BEARER ${SECRET}`,
        `Basic ${SECRET}`,
      ),
      fc.integer({ min: 0, max: SECRET.length - 1 }).map((n) => `Bearer ${SECRET.slice(0, n)}`),
      fc.string({ minLength: 1, maxLength: 3 }).map((extra) => `Bearer ${SECRET}${extra}`),
      fc.constant(`Bearer ${'x'.repeat(9 * 1024)}`),
      fc.constant(`Bearer ${SECRET.replace(/a/g, 'а')}`), // Cyrillic a
    );
    await fc.assert(
      fc.asyncProperty(near, fc.constantFrom(GET, POST), async (header, handler) => {
        rpcCalls.length = 0;
        const headers = { authorization: header };
        let sent: string | null;
        try {
          sent = new Headers(headers).get('authorization'); // what actually goes over the wire (HTTP trims whitespace)
        } catch {
          return; // a header no client could send is not a test case
        }
        fc.pre(sent !== `Bearer ${SECRET}`);
        const res = await handler(request(headers));
        expect(res.status).toBe(401);
        expect(rpcCalls).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  test('bad query strings with the right secret → 400 with a message, no rpc', async () => {
    const bad = fc.oneof(
      fc.integer({ max: 0 }).map((n) => `limit=${n}`),
      fc.integer({ min: 10_001 }).map((n) => `limit=${n}`),
      fc.bigInt({ min: 10n ** 20n }).map((n) => `budgetMs=${n}`),
      fc.integer({ max: 0 }).map((n) => `budgetMs=${n}`),
      fc
        .string({ minLength: 1, maxLength: 10 })
        .filter((s) => !/^\d+$/.test(s))
        .map((s) => `limit=${encodeURIComponent(s)}`),
      fc
        .string({ minLength: 1, maxLength: 10 })
        .filter((s) => !['1', '0', 'true', 'false'].includes(s))
        .map((s) => `dryRun=${encodeURIComponent(s)}`),
      fc.constantFrom(
        'limit=1&limit=1',
        'budgetMs=5&budgetMs=6',
        'limit=',
        'limit=1e3',
        'limit=0x10',
        'limit= 5',
        'other=1',
      ),
    );
    await fc.assert(
      fc.asyncProperty(bad, async (query) => {
        rpcCalls.length = 0;
        const res = await GET(request({ authorization: `Bearer ${SECRET}` }, `?${query}`));
        expect(res.status).toBe(400);
        const body = (await res.json()) as { error: string };
        expect(body.error.length).toBeGreaterThan(0);
        expect(rpcCalls).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });
});
