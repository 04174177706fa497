import http from 'node:http';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { GET, POST } from '../app/api/cron/dm-queue/route.ts';
import { setDb } from '../lib/db/index.ts';
import type { Db } from '../lib/db/types.ts';
import { setProvider } from '../lib/providers/index.ts';
import { freshDb } from './helpers/db.ts';
import { fakeProvider } from './helpers/fake-provider.ts';
import { forbidInLogs } from './helpers/logs.ts';
import { type NextServer, startNextServer } from './helpers/next-server.ts';

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

/**
 * POSTs `total` bytes in 64 KiB writes, stopping as soon as the answer arrives; says how many bytes had been handed to
 * the socket by then. `body` instead sends that text in one write.
 */
function postBytes(
  url: string,
  headers: Record<string, string>,
  send: { total: number } | { body: string },
): Promise<{ status: number; body: string; sentBeforeAnswer: number }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers });
    let sent = 0;
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      const sentBeforeAnswer = sent;
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body, sentBeforeAnswer });
        req.destroy();
      });
    });
    req.on('error', reject);
    if ('body' in send) {
      req.end(send.body);
      return;
    }
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const pump = () => {
      while (!answered && sent < send.total) {
        sent += chunk.byteLength;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      if (sent >= send.total) req.end();
    };
    pump();
  });
}

describe('POST /api/sync-jobs over real HTTP (next dev): bodies are capped at 4 KiB in bytes', () => {
  const KEY = 'hostile-http-app-api-key-0123456789';
  const MiB64 = 64 * 1024 * 1024;
  let app: NextServer;
  beforeAll(async () => {
    app = await startNextServer({ env: { APP_API_KEY: KEY, SEED_DEMO: '0' }, readyPath: '/api/health' });
  }, 400_000);
  afterAll(async () => {
    await app?.stop();
  }, 60_000);
  const headers = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };
  const tooLarge = { status: 413, body: JSON.stringify({ error: 'body: larger than 4096 bytes' }) };

  test.each([
    ['declared in content-length', { 'content-length': String(MiB64) }],
    ['chunked, without content-length', {}],
  ])('a 64 MiB body %s → 413 long before it is all sent', async (_name, extra) => {
    const r = await postBytes(`${app.url}/api/sync-jobs`, { ...headers, ...extra }, { total: MiB64 });
    // Before the cap the server read all 64 MiB, then answered 400. What was sent before the answer is what the
    // sockets buffered (a few MiB on loopback), not what the route read.
    expect(r.sentBeforeAnswer).toBeLessThan(MiB64 / 4);
    expect({ status: r.status, body: r.body }).toEqual(tooLarge);
  });

  test.each([
    ['with content-length', { 'content-length': '8000' }],
    ['chunked (counted while read)', { 'transfer-encoding': 'chunked' }],
  ])('4,000 × "é" (8,000 bytes, 4,000 characters) %s → 413', async (_name, extra) => {
    const r = await postBytes(`${app.url}/api/sync-jobs`, { ...headers, ...extra }, { body: 'é'.repeat(4000) });
    expect({ status: r.status, body: r.body }).toEqual(tooLarge);
  });
});
