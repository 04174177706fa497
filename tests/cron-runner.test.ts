import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';

// The local runner (npm run cron) as a process, against a stand-in app on loopback that records what it is sent.
const ROOT = path.resolve(import.meta.dirname, '..');
const SECRET = 'cron-runner-test-secret-0123456';
const VERCEL_JSON = {
  crons: [{ path: '/api/cron/dm-queue', schedule: '*/15 * * * *' }],
  schedules: {
    'morning-report': { schedule: '0 9 * * *', timezone: 'Europe/Berlin', path: '/api/cron/analytics' },
    cleanup: { schedule: '0 * * * *', function: 'api/cleanup' },
  },
};

interface Seen {
  path: string;
  headers: http.IncomingHttpHeaders;
}

describe('npm run cron: both keys of vercel.json', () => {
  let server: http.Server;
  let url: string;
  let dir: string;
  const seen: Seen[] = [];
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/api/health') {
        // Nothing has run yet: the runner catches up on each job's latest scheduled fire.
        const jobs = {
          'dm-queue': { enabled: true, lastSuccessAt: null },
          analytics: { enabled: true, lastSuccessAt: null },
        };
        res.end(JSON.stringify({ db: 'ok', jobs }));
        return;
      }
      seen.push({ path: req.url ?? '', headers: req.headers });
      res.end(JSON.stringify({ status: 'ok', claimed: 0 }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cron-runner-'));
    fs.writeFileSync(path.join(dir, 'vercel.json'), JSON.stringify(VERCEL_JSON));
  });
  afterEach(() => {
    seen.length = 0;
    child?.kill('SIGTERM');
    child = undefined;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const start = (args: string[]) => {
    const proc = spawn(process.execPath, [path.join(ROOT, 'scripts/cron.ts'), ...args], {
      cwd: dir,
      env: { PATH: process.env.PATH, NODE_ENV: 'test', APP_URL: url, CRON_SECRET: SECRET } as NodeJS.ProcessEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => {
      out += d;
    });
    proc.stderr.on('data', (d: Buffer) => {
      out += d;
    });
    child = proc;
    return { proc, output: () => out };
  };
  const until = async (what: () => boolean, ms = 20_000) => {
    const end = Date.now() + ms;
    while (!what()) {
      if (Date.now() > end) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  test('schedules every path entry in its zone, says why a function target is not run, fires as Vercel does', async () => {
    const { output } = start([]);
    await until(() => seen.length >= 2);
    const text = output();
    expect(text).toMatch(/local cron runner: 2 schedules from vercel.json/);
    expect(text).toMatch(/not run: schedules\.cleanup targets the function "api\/cleanup"/);
    expect(text).toMatch(/dm-queue\s+\*\/15 \* \* \* \* \(UTC, crons\)/);
    expect(text).toMatch(
      /analytics\s+0 9 \* \* \* \(Europe\/Berlin, schedules\)\s+next \d{4}-\d\d-\d\dT0[78]:00:00\.000Z/,
    );
    // The catch-up fires are the missed scheduled fires: Vercel's headers, so the routes place them in their slot.
    const byPath = Object.fromEntries(seen.map((s) => [s.path, s.headers]));
    expect(byPath['/api/cron/dm-queue']).toMatchObject({
      authorization: `Bearer ${SECRET}`,
      'user-agent': expect.stringMatching(/^vercel-cron\/1\.0/),
      'x-vercel-cron-schedule': '*/15 * * * *',
    });
    expect(byPath['/api/cron/analytics']).toMatchObject({ 'x-vercel-cron-schedule': '0 9 * * *' });
  });

  test('--once is a manual call: no Vercel headers, so it is never deduplicated', async () => {
    const { proc } = start(['--once', 'analytics']);
    const code = await new Promise<number | null>((r) => proc.on('exit', r));
    expect(code).toBe(0);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.path).toBe('/api/cron/analytics');
    expect(seen[0]!.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(seen[0]!.headers['user-agent']).not.toMatch(/^vercel-cron/);
    expect(seen[0]!.headers['x-vercel-cron-schedule']).toBeUndefined();
  });
});
