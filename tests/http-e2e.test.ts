import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type NextServer, startNextServer } from './helpers/next-server.ts';

// The real app over HTTP (next dev on an empty embedded database): what Vercel Cron, curl and an uptime monitor see.
const SECRET = 'http-e2e-cron-secret-0123456789';

describe('the app over HTTP', () => {
  let app: NextServer;
  beforeAll(async () => {
    // No ADMIN_PASSWORD: in development /admin is open, with a banner saying so.
    app = await startNextServer({ env: { CRON_SECRET: SECRET, SEED_DEMO: '0' } });
  }, 400_000);
  afterAll(async () => {
    await app?.stop();
  }, 60_000);

  const cron = (method: string, headers: Record<string, string> = {}) =>
    fetch(`${app.url}/api/cron/dm-queue`, { method, headers });
  const withSecret = { authorization: `Bearer ${SECRET}` };

  test('GET with the secret: 200 and the run summary', async () => {
    const res = await cron('GET', withSecret);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toContain('no-store');
    expect(await res.json()).toMatchObject({
      job: 'dm-queue',
      trigger: 'manual',
      status: 'ok',
      claimed: 0,
      hasMore: false,
      budgetMs: 55_000,
    });
  });

  test('POST with the secret behaves the same', async () => {
    const res = await cron('POST', withSecret);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ job: 'dm-queue', status: 'ok' });
  });

  test.each([
    ['no Authorization header', {}],
    ['a wrong secret', { authorization: 'Bearer not-the-secret-at-all' }],
    ['the secret as Basic', { authorization: `Basic ${SECRET}` }],
  ])('401 with %s', async (_case, headers) => {
    const res = await cron('GET', headers);
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: 'unauthorized' });
  });

  test.each(['PUT', 'DELETE', 'PATCH'])('%s → 405, even with the secret', async (method) => {
    const res = await cron(method, withSecret);
    expect(res.status).toBe(405);
  });

  test('GET /api/health: 200 on a fresh installation, one entry per job', async () => {
    const res = await fetch(`${app.url}/api/health`);
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({ status: 'ok', db: 'ok' });
    expect(body.jobs['dm-queue']).toMatchObject({ lastRunStatus: 'ok', overdue: false });
  });

  test('/admin in development without ADMIN_PASSWORD: open, with a banner and the security headers', async () => {
    const res = await fetch(`${app.url}/admin`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toMatch(/script-src 'self' 'nonce-/);
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    const html = await res.text();
    expect(html).toContain('/admin is open to anyone');
    expect(html).toContain('dm-queue');
  });
});
