// npm run cron: the local stand-in for Vercel Cron. Reads vercel.json (`crons` and `schedules`), fires each route on its
// schedule in its own zone with Authorization: Bearer $CRON_SECRET as Vercel does, prints one line per run.
//   npm run cron                      run the schedules until Ctrl-C (first catching up on fires missed while stopped)
//   npm run cron -- --no-catch-up     ... without the catch-up
//   npm run cron -- --once <job>      fire one job now and exit (a manual call: never deduplicated)
//   npm run cron -- --all             fire every job now and exit (manual too)
//   npm run cron -- --pause <job>     pause a job (its route answers "skipped" until resumed); prints one JSON line
//   npm run cron -- --resume <job>    resume it (POST /api/jobs/<job>/pause|resume; APP_URL picks the app)
import fs from 'node:fs';
import { Cron } from 'croner';
import { parseCron, previousFireBefore, readSchedules, type Schedule } from '../lib/schedules.ts';

if (fs.existsSync('.env.local')) process.loadEnvFile('.env.local');
const base = (process.env.APP_URL || `http://127.0.0.1:${process.env.PORT || 3000}`).replace(/\/$/, '');
const secret = process.env.CRON_SECRET;
// The project's vercel.json as it is now (not as bundled): edit it, restart the runner.
const { schedules: list, unsupported } = readSchedules(JSON.parse(fs.readFileSync('vercel.json', 'utf8')));
const args = process.argv.slice(2);

if (args.includes('--help') || args.includes('-h')) {
  console.log(
    fs
      .readFileSync(new URL(import.meta.url), 'utf8')
      .split('\n')
      .slice(0, 8)
      .join('\n')
      .replace(/^\/\/ ?/gm, ''),
  );
  process.exit(0);
}
if (!secret) {
  console.error(
    'CRON_SECRET is not set (npm run dev writes one to .env.local): the routes refuse every call without it.',
  );
  process.exit(1);
}

async function waitForApp(timeoutMs = 180_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    try {
      // The first request compiles the route in next dev: give it time.
      await fetch(`${base}/api/health`, { signal: AbortSignal.timeout(60_000) });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
  throw new Error(`the app did not answer at ${base} within ${timeoutMs / 1000} s`);
}

function line(s: Schedule, text: string): void {
  console.log(`${new Date().toISOString()}  ${s.job.padEnd(16)} ${text}`);
}

/**
 * A scheduled fire is sent as Vercel sends it (its user agent and `x-vercel-cron-schedule`), so the route places it in
 * its occurrence and a second delivery of that slot is answered `duplicate_delivery`, as on Vercel. --once and --all
 * are manual calls: no Vercel headers, never deduplicated.
 */
function headersFor(s: Schedule, kind: 'scheduled' | 'manual'): Record<string, string> {
  if (kind === 'manual')
    return { authorization: `Bearer ${secret}`, 'user-agent': 'pg-cron-jobs local runner (manual)' };
  return {
    authorization: `Bearer ${secret}`,
    'user-agent': 'vercel-cron/1.0 (local runner)',
    'x-vercel-cron-schedule': s.schedule,
  };
}

async function fire(s: Schedule, kind: 'scheduled' | 'manual' = 'scheduled'): Promise<boolean> {
  const started = Date.now();
  // The app may be restarting (next dev reloads): try a few times before reporting the run as missed.
  for (let attempt = 1; attempt <= 5; attempt++) {
    try {
      const res = await fetch(`${base}${s.path}`, {
        headers: headersFor(s, kind),
        signal: AbortSignal.timeout(15 * 60_000),
      });
      const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
      const counts = ['claimed', 'succeeded', 'failed', 'retried', 'uncertain', 'remaining']
        .filter((k) => typeof body[k] === 'number')
        .map((k) => `${k}=${body[k]}`)
        .join(' ');
      const status = body.status ?? body.error ?? '';
      const reason = typeof body.reason === 'string' ? ` (${body.reason})` : '';
      line(s, `${res.status} ${status}${reason} ${counts} ${Date.now() - started}ms`);
      return res.ok;
    } catch (e) {
      if (attempt === 5) {
        line(s, `missed: ${(e as Error).message}`);
        return false;
      }
      await new Promise((r) => setTimeout(r, 2_000 * attempt));
    }
  }
  return false;
}

interface JobHealth {
  enabled?: boolean;
  lastSuccessAt: string | null;
}

/**
 * Vercel fires on schedule whether or not anyone watches; a laptop's runner only while it runs. At start, each job
 * whose latest scheduled fire has no successful run after it is fired once, like anacron, so the dashboard moves in
 * the first minute instead of at the next quarter hour. Paused jobs are left alone.
 */
async function catchUp(): Promise<void> {
  let jobs: Record<string, JobHealth>;
  try {
    const res = await fetch(`${base}/api/health`, { signal: AbortSignal.timeout(60_000) });
    const body = (await res.json()) as { db?: string; jobs?: Record<string, JobHealth> };
    if (body.db !== 'ok' || !body.jobs) return;
    jobs = body.jobs;
  } catch {
    return;
  }
  const now = new Date();
  const due = list.filter((s) => {
    const h = jobs[s.job];
    if (!h || h.enabled === false) return false;
    let previous: Date | null;
    try {
      previous = previousFireBefore(s.schedule, now, s.timezone);
    } catch {
      return false; // reported as not scheduled below
    }
    return previous !== null && (!h.lastSuccessAt || new Date(h.lastSuccessAt) < previous);
  });
  if (due.length === 0) return;
  console.log(`catching up on ${due.map((s) => s.job).join(', ')} (their last scheduled fire has no success yet)`);
  // Sent as the missed fire itself: if that occurrence did start after all, the route answers duplicate_delivery.
  await Promise.all(due.map((s) => fire(s)));
}

/**
 * --pause / --resume: through the app's operator API (POST /api/jobs/<job>/pause|resume, Bearer CRON_SECRET), so the
 * app's own database is the one changed, whichever it is (the embedded one npm run dev holds open, or production's
 * with APP_URL=https://<app>). One JSON line on stdout: the API's answer, or { error }. Exit 0 done, 1 the call
 * failed, 2 unknown job (the known ones on stderr).
 */
async function setPaused(flag: '--pause' | '--resume', name: string | undefined): Promise<never> {
  const known = [...new Set(list.map((s) => s.job))];
  const fail = (code: number, error: string, extra: Record<string, unknown> = {}): never => {
    console.log(JSON.stringify({ error, ...extra }));
    console.error(error);
    process.exit(code);
  };
  if (!name || name.startsWith('-') || !known.includes(name))
    fail(2, `unknown job ${name ?? '(none given)'}; jobs: ${known.join(', ')}`, { jobs: known });
  await waitForApp();
  const action = flag === '--pause' ? 'pause' : 'resume';
  let res: Response;
  try {
    res = await fetch(`${base}/api/jobs/${encodeURIComponent(name!)}/${action}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'user-agent': 'pg-cron-jobs local runner (operator)' },
      signal: AbortSignal.timeout(60_000),
    });
  } catch (e) {
    return fail(1, `${action} ${name}: ${(e as Error).message}`);
  }
  const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (res.ok) {
    console.log(JSON.stringify(body));
    process.exit(0);
  }
  const error = `${action} ${name}: ${res.status} ${typeof body.error === 'string' ? body.error : res.statusText}`;
  // The app knows no such job (vercel.json and the app's registry disagree): still a wrong name.
  if (res.status === 404)
    return fail(2, `${error}; jobs: ${(body.jobs as string[] | undefined)?.join(', ')}`, {
      jobs: body.jobs,
    });
  return fail(1, error, { status: res.status });
}

if (args[0] === '--pause' || args[0] === '--resume') await setPaused(args[0], args[1]);

if (args[0] === '--once' || args[0] === '--all') {
  const chosen = args[0] === '--all' ? list : list.filter((s) => s.job === args[1]);
  if (chosen.length === 0) {
    console.error(`unknown job ${args[1] ?? '(none given)'}; jobs: ${list.map((s) => s.job).join(', ')}`);
    process.exit(2);
  }
  await waitForApp();
  const results = await Promise.all(chosen.map((s) => fire(s, 'manual')));
  process.exit(results.every(Boolean) ? 0 : 1);
}

await waitForApp();
// Shown as localhost: next dev serves its scripts to the origin it announced, and that is localhost.
const shown = process.env.APP_URL ? base : `http://localhost:${process.env.PORT || 3000}`;
const door = process.env.ADMIN_PASSWORD ? 'password: ADMIN_PASSWORD' : 'open in development: ADMIN_PASSWORD is not set';
console.log(`local cron runner: ${list.length} schedules from vercel.json against ${base}`);
for (const u of unsupported) console.log(`  not run: ${u.message}`);
console.log(`  dashboard  ${shown}/admin  (${door})`);
console.log(`  health     ${shown}/api/health`);
for (const s of list) {
  try {
    parseCron(s.schedule, s.timezone);
  } catch (e) {
    line(s, `not scheduled: ${(e as Error).message} (npm run check:vercel)`);
    continue;
  }
  // protect: a run still going when the next fire comes is not doubled locally.
  const job = new Cron(s.schedule, { timezone: s.timezone, protect: true }, async () => {
    await fire(s);
  });
  line(s, `${s.schedule} (${s.timezone}, ${s.source})  next ${job.nextRun()?.toISOString()}`);
}
if (!args.includes('--no-catch-up')) await catchUp();
