import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type NextServer, startNextServer } from './helpers/next-server.ts';

/**
 * The issue's first try, over real HTTP: a deployment with no database variable (VERCEL=1 puts the app under the
 * production rules, as on every Vercel deployment; `next dev` needs no build) must refuse with the reason instead of
 * opening an embedded database on the function's disk. The same server with DATABASE=pglite and PROVIDER=sandbox
 * runs on the demo parts on purpose. The route handlers' cases in detail: tests/production-config.test.ts.
 */
const SECRET = 'production-http-cron-secret-0123';
const API_KEY = 'production-http-app-api-key-0123';
const UNSET = { DATABASE: '', PROVIDER: '', VERCEL_ENV: '', NODE_ENV: '' };
const auth = { authorization: `Bearer ${SECRET}` };

/** The JSON log lines of the server's output at `level`. */
function logLines(app: NextServer, level: string): Record<string, unknown>[] {
  return app
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        return {};
      }
    })
    .filter((l) => l.level === level);
}

describe('a deployment with no database variable, over HTTP', () => {
  let app: NextServer;
  let tmp: string;
  let dir: string;
  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'production-http-'));
    dir = path.join(tmp, 'pglite');
    app = await startNextServer({
      name: 'production-http',
      env: {
        ...UNSET,
        VERCEL: '1',
        PGLITE_DIR: dir,
        CRON_SECRET: SECRET,
        APP_API_KEY: API_KEY,
        UNIPILE_DSN: 'api1.unipile.test:13111',
        UNIPILE_API_KEY: 'production-http-unipile-key',
      },
      readyPath: '/',
    });
  }, 400_000);
  afterAll(async () => {
    await app?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }, 60_000);

  test('cron route 500 with the reason, app API 500, health 503 "misconfigured"; no embedded database on disk', async () => {
    const errorsBefore = logLines(app, 'error').length;
    const run = await fetch(`${app.url}/api/cron/dm-queue`, { headers: auth });
    expect(run.status).toBe(500);
    const body = (await run.json()) as { error: string };
    expect(body.error).toMatch(/^no database configured: set DATABASE_URL/);
    expect(logLines(app, 'error').length - errorsBefore).toBe(1);

    const sync = await fetch(`${app.url}/api/sync-jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ accountId: 'a0000000-0000-4000-8000-000000000001', kind: 'relations' }),
    });
    expect(sync.status).toBe(500);
    expect(((await sync.json()) as { error: string }).error).toBe(body.error);

    const health = await fetch(`${app.url}/api/health`);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({
      status: 'misconfigured',
      db: 'not configured',
      problems: [body.error],
    });
    expect(fs.existsSync(dir)).toBe(false);
  });
});

describe('DATABASE=pglite and PROVIDER=sandbox: the demo parts on purpose, over HTTP', () => {
  let app: NextServer;
  beforeAll(async () => {
    app = await startNextServer({
      name: 'production-http',
      env: { ...UNSET, VERCEL: '1', DATABASE: 'pglite', PROVIDER: 'sandbox', CRON_SECRET: SECRET, SEED_DEMO: '0' },
    });
  }, 400_000);
  afterAll(async () => {
    await app?.stop();
  }, 60_000);

  test('the cron route runs, health 200 and names both demo parts', async () => {
    const run = await fetch(`${app.url}/api/cron/dm-queue`, { headers: auth });
    expect(run.status).toBe(200);
    expect(await run.json()).toMatchObject({ job: 'dm-queue', status: 'ok' });
    const health = await fetch(`${app.url}/api/health`);
    expect(health.status).toBe(200);
    const report = (await health.json()) as { warnings: string[] };
    expect(report.warnings).toEqual(
      expect.arrayContaining([expect.stringContaining('DATABASE=pglite'), expect.stringContaining('PROVIDER=sandbox')]),
    );
    expect(fs.existsSync(app.pgliteDir!)).toBe(true);
  });
});
