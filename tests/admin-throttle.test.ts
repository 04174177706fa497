import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { clientAddress, SHARED_BUCKET } from '../lib/admin/auth.ts';
import { admitAdminRequest, LoginThrottle } from '../lib/admin/throttle.ts';
import { type NextServer, startNextServer } from './helpers/next-server.ts';

const basic = (password: string) => `Basic ${Buffer.from(`admin:${password}`).toString('base64')}`;
/** This process's environment without the variables that decide whom x-forwarded-for speaks for. */
const env = (vars: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  ...process.env,
  VERCEL: undefined,
  TRUSTED_PROXY: undefined,
  ADMIN_PASSWORD: 'pw',
  NODE_ENV: 'production',
  ...vars,
});
const xff = (value: string) => new Headers({ 'x-forwarded-for': value });

/** Wrong guesses, each from a new claimed address; returns the waits imposed and the last answer. */
async function guessWithFreshAddresses(vars: NodeJS.ProcessEnv, guesses: number) {
  const t = new LoginThrottle({ freeFailures: 1, baseMs: 10_000, maxStepMs: 20_000, maxWaitMs: 25_000 }, () => 0);
  const waits: number[] = [];
  let last: Awaited<ReturnType<typeof admitAdminRequest>> | undefined;
  for (let i = 0; i < guesses; i++) {
    const headers = new Headers({ 'x-forwarded-for': `203.0.113.${i + 1}`, authorization: basic(`guess-${i}`) });
    last = await admitAdminRequest(headers, t, vars, async (ms) => {
      waits.push(ms);
    });
  }
  return { waits, last, throttle: t };
}

describe('admin throttle: whose address x-forwarded-for is', () => {
  test('without VERCEL or TRUSTED_PROXY, a client that varies x-forwarded-for on every guess cannot escape the throttle', async () => {
    const { waits, last } = await guessWithFreshAddresses(env(), 4);
    // One bucket for every untrusted request: the third guess waits 10 s first, the fourth is refused unchecked.
    expect(waits).toEqual([10_000]);
    expect(last).toEqual({ ok: false, status: 429, retryAfterSec: 30 });
  });

  test('on Vercel each client is its own bucket: guesses from one address do not slow another', async () => {
    const { waits, last, throttle } = await guessWithFreshAddresses(env({ VERCEL: '1' }), 4);
    expect(waits).toEqual([]);
    expect(last).toEqual({ ok: false, status: 401 });
    throttle.failure('198.51.100.7');
    throttle.failure('198.51.100.7');
    expect(throttle.waitMs('198.51.100.7')).toBe(10_000);
    expect(throttle.waitMs('203.0.113.9')).toBe(0);
  });

  test('the right password does not reset the shared bucket: the operator logging in does not refill a guesser', async () => {
    let now = 0;
    const t = new LoginThrottle({ freeFailures: 1, baseMs: 10_000, maxStepMs: 20_000, maxWaitMs: 60_000 }, () => now);
    const vars = env();
    const request = (authorization: string, ip: string) =>
      admitAdminRequest(new Headers({ 'x-forwarded-for': ip, authorization }), t, vars, async (ms) => {
        now += ms;
      });
    expect(await request(basic('nope'), '203.0.113.1')).toEqual({ ok: false, status: 401 });
    expect(await request(basic('nope'), '203.0.113.2')).toEqual({ ok: false, status: 401 }); // owes 10 s now
    expect(await request(basic('pw'), '192.0.2.10')).toEqual({ ok: true, open: false }); // waited the 10 s
    expect(await request(basic('nope'), '203.0.113.3')).toEqual({ ok: false, status: 401 });
    // The third failure in the bucket costs 20 s: the count survived the login.
    expect(t.waitMs(SHARED_BUCKET)).toBe(20_000);
  });

  test.each([
    ['no proxy variable: shared bucket', {}, '203.0.113.5', SHARED_BUCKET],
    ['VERCEL: the first entry (Vercel overwrites the header)', { VERCEL: '1' }, '203.0.113.5, 10.0.0.1', '203.0.113.5'],
    ['VERCEL, no header', { VERCEL: '1' }, '', SHARED_BUCKET],
    [
      'TRUSTED_PROXY=1: the entry the proxy appended (the last)',
      { TRUSTED_PROXY: '1' },
      '6.6.6.6, 203.0.113.5',
      '203.0.113.5',
    ],
    ['TRUSTED_PROXY=2: second from the right', { TRUSTED_PROXY: '2' }, '6.6.6.6, 203.0.113.5, 10.0.0.2', '203.0.113.5'],
    ['TRUSTED_PROXY=2 but one hop: not through both proxies', { TRUSTED_PROXY: '2' }, '203.0.113.5', SHARED_BUCKET],
    ['TRUSTED_PROXY=yes: not a hop count, trusts nothing', { TRUSTED_PROXY: 'yes' }, '203.0.113.5', SHARED_BUCKET],
    ['TRUSTED_PROXY=0: trusts nothing', { TRUSTED_PROXY: '0' }, '203.0.113.5', SHARED_BUCKET],
    ['IPv6', { VERCEL: '1' }, '2001:db8::1', '2001:db8::1'],
    ['not an address', { VERCEL: '1' }, 'x'.repeat(500), SHARED_BUCKET],
  ])('%s', (_name, vars, header, expected) => {
    expect(clientAddress(xff(header), env(vars))).toBe(expected);
  });
});

// The door itself: proxy.ts on a real `next dev`, with neither VERCEL nor TRUSTED_PROXY set.
describe('admin throttle through proxy.ts over HTTP', () => {
  let app: NextServer;
  beforeAll(async () => {
    app = await startNextServer({ env: { ADMIN_PASSWORD: 'the-right-password', VERCEL: '', TRUSTED_PROXY: '' } });
    await fetch(`${app.url}/admin`); // compiles proxy.ts (the challenge request is not a guess)
  }, 300_000);
  afterAll(async () => {
    await app?.stop();
  }, 60_000);

  test('guesses that each claim a new x-forwarded-for share one penalty, then even the right password gets 429', async () => {
    const get = (password: string, ip: string) =>
      fetch(`${app.url}/admin`, { headers: { authorization: basic(password), 'x-forwarded-for': ip } });
    // Defaults: 2 free, then 0.5 s doubling to 8 s per failure. Ten wrong guesses at once owe 39.5 s (> 30 s).
    const guesses = await Promise.all(Array.from({ length: 10 }, (_, i) => get(`wrong-${i}`, `203.0.113.${i + 1}`)));
    expect(guesses.map((r) => r.status)).toEqual(Array(10).fill(401));
    const next = await get('the-right-password', '198.51.100.77');
    expect(next.status).toBe(429);
    expect(Number(next.headers.get('retry-after'))).toBeGreaterThan(30);
  }, 60_000);
});
