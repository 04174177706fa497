import { randomBytes } from 'node:crypto';
import type postgres from 'postgres';
import { type BuildInfo, coldStart, ensureBuild, type NextServer, startNext, tracedSize } from './next-app.ts';
import { createMigratedDatabase, rawSql, transactionCount } from './pg.ts';
import { type Spread, sleep, spread } from './stats.ts';
import { type StubUnipile, startStubUnipile } from './stub-unipile.ts';

export const PROVIDER_LATENCY_MS = 200;
const HTTP_ACCOUNTS = 200;
/** The route's own continuation would call the server again after the response; this depth is its maximum. */
const NO_CONTINUATION = { 'x-cron-continuation-depth': '3' };

export interface HttpThroughput {
  concurrency: number;
  /** DM_PREFETCH=1: the next batch is claimed while this one is in flight (opt-in; up to 2 batches held). */
  prefetch: boolean;
  budgetMs: number;
  ideal: number;
  sent: Spread;
  ofIdeal: Spread;
  wallMs: Spread;
  /** Function duration × invocations ÷ DMs × 1000. */
  fnSecondsPer1000: Spread;
  /** Server-side transactions per 1,000 DMs (pg_stat_database), the HTTP run's database round trips. */
  xactsPer1000: Spread;
  batches: Spread;
}

export interface BudgetAdherence {
  runs: number;
  budgetMs: number;
  providerTimeoutMs: number;
  /** Wall clock of the HTTP call minus the budget, per run (negative: returned early). */
  overshootMs: number[];
  overshoot: Spread;
  uncertain: Spread;
}

export interface ColdStart {
  /** Spawn of `next start` (a new process) → first byte of GET /api/cron/dm-queue (nothing due), per run. */
  ms: Spread;
  runs: number;
  traced: { bytes: number; files: number; nft: string };
}

export interface HttpResults {
  build: BuildInfo;
  coldStart: ColdStart;
  throughput: HttpThroughput[];
  budget: BudgetAdherence;
}

type Summary = { status: string; succeeded: number; uncertain: number; durationMs: number; budgetMs: number };

async function callRoute(server: NextServer, secret: string, query: string): Promise<{ wallMs: number; s: Summary }> {
  const started = performance.now();
  const res = await fetch(`${server.url}/api/cron/dm-queue?${query}`, {
    headers: { authorization: `Bearer ${secret}`, ...NO_CONTINUATION },
    signal: AbortSignal.timeout(120_000),
  });
  const text = await res.text();
  const wallMs = performance.now() - started;
  if (res.status !== 200) throw new Error(`dm-queue answered ${res.status}: ${text.slice(0, 500)}`);
  return { wallMs, s: JSON.parse(text) as Summary };
}

async function resetQueue(sql: postgres.Sql, dms: number): Promise<void> {
  await sql.unsafe('truncate dm_queue, job_runs cascade');
  await sql.unsafe('update accounts set dm_resume_at = null');
  await sql.unsafe(
    `insert into dm_queue (account_id, recipient_id, body, send_at)
     select a.ids[1 + (g % cardinality(a.ids))], 'ACoAA' || g, 'Hi, thanks for connecting (' || g || ')', now() - interval '1 minute'
       from generate_series(1, $1::int) g, (select array_agg(id order by id) as ids from accounts) a`,
    [dms],
  );
  await sql.unsafe('vacuum analyze dm_queue');
}

/**
 * End to end through HTTP: `next start` on the production build, a stand-in Unipile with 200 ms latency, one
 * invocation of /api/cron/dm-queue per run. Then budget adherence against the same stand-in set to hang.
 */
export async function benchHttp(
  opts: { quick: boolean; runs: number; budgetRuns: number; concurrencies: number[] },
  progress: (line: string) => void,
): Promise<HttpResults> {
  const build = await ensureBuild(progress);
  progress(build.built ? `  built in ${Math.round(build.ms / 1000)} s` : `  reusing the build ${build.buildId}`);
  const { url, db } = await createMigratedDatabase('http');
  await db.close();
  const sql = rawSql(url, 1);
  const stub: StubUnipile = await startStubUnipile(PROVIDER_LATENCY_MS);
  const secret = randomBytes(24).toString('hex');
  const appEnv = { DATABASE_URL: url, CRON_SECRET: secret, UNIPILE_DSN: stub.url, UNIPILE_API_KEY: 'x' };
  try {
    await sql.unsafe(
      `insert into accounts (name, dm_daily_limit, unipile_account_id)
       select 'acct-' || g, 1000, 'prov-' || g from generate_series(1, ${HTTP_ACCOUNTS}) g`,
    );
    const cold: number[] = [];
    for (let run = 1; run <= opts.runs; run++) {
      const r = await coldStart(appEnv, '/api/cron/dm-queue', {
        authorization: `Bearer ${secret}`,
        ...NO_CONTINUATION,
      });
      if (r.status !== 200) throw new Error(`cold start: dm-queue answered ${r.status}`);
      cold.push(r.ms);
      progress(
        `  cold start ${run}/${opts.runs}: first byte of /api/cron/dm-queue ${Math.round(r.ms)} ms after spawning next start`,
      );
    }
    const traced = tracedSize();
    const coldStartResult: ColdStart = { ms: spread(cold), runs: cold.length, traced };
    progress(
      `  traced function size: ${(traced.bytes / 2 ** 20).toFixed(1)} MiB in ${traced.files} files (${traced.nft})`,
    );
    const budgetQuery = opts.quick ? '&budgetMs=15000' : '';
    const throughput: HttpThroughput[] = [];
    const modes = opts.concurrencies.flatMap((concurrency) =>
      [false, true].map((prefetch) => ({ concurrency, prefetch })),
    );
    for (const { concurrency, prefetch } of modes) {
      const label = `DM_CONCURRENCY=${concurrency}${prefetch ? ' DM_PREFETCH=1' : ''}`;
      const server = await startNext({
        ...appEnv,
        DM_CONCURRENCY: String(concurrency),
        ...(prefetch ? { DM_PREFETCH: '1' } : {}),
      });
      try {
        const rows: { sent: number; wall: number; xacts: number; budget: number; batches: number }[] = [];
        for (let run = 1; run <= opts.runs; run++) {
          const budget = opts.quick ? 15_000 : 55_000;
          await resetQueue(sql, Math.ceil(((concurrency * budget) / PROVIDER_LATENCY_MS) * 1.3));
          await callRoute(server, secret, 'dryRun=1'); // warm connections, as a warm function instance has
          const x0 = await transactionCount(sql);
          const { wallMs, s } = await callRoute(server, secret, `limit=10000${budgetQuery}`);
          // A backend reports its counts when idle at most once a second, or when it exits: end the server's ones.
          await sql`select pg_terminate_backend(pid) from pg_stat_activity
                     where datname = current_database() and pid <> pg_backend_pid() and application_name = 'pg-cron-jobs'`;
          await sleep(300);
          const x1 = await transactionCount(sql);
          const [b] = await sql<{ n: number }[]>`select coalesce((summary->'details'->>'batches')::int, 0) as n
                                                   from job_runs order by started_at desc limit 1`;
          rows.push({ sent: s.succeeded, wall: wallMs, xacts: x1 - x0, budget: s.budgetMs, batches: b?.n ?? 0 });
          progress(
            `  ${label} run ${run}/${opts.runs}: ${s.succeeded} DMs in ${Math.round(wallMs)} ms ` +
              `(budget ${s.budgetMs} ms, ${Math.round((s.succeeded / ((concurrency * s.budgetMs) / PROVIDER_LATENCY_MS)) * 100)} % of ideal)`,
          );
        }
        const budgetMs = rows[0]!.budget;
        const ideal = (concurrency * budgetMs) / PROVIDER_LATENCY_MS;
        throughput.push({
          concurrency,
          prefetch,
          budgetMs,
          ideal,
          sent: spread(rows.map((r) => r.sent)),
          ofIdeal: spread(rows.map((r) => r.sent / ideal)),
          wallMs: spread(rows.map((r) => r.wall)),
          fnSecondsPer1000: spread(rows.map((r) => (r.wall / 1000 / r.sent) * 1000)),
          xactsPer1000: spread(rows.map((r) => (r.xacts / r.sent) * 1000)),
          batches: spread(rows.map((r) => r.batches)),
        });
      } finally {
        await server.stop();
      }
    }
    const budget = await benchBudget(sql, stub, appEnv, secret, opts.budgetRuns, progress);
    return { build, coldStart: coldStartResult, throughput, budget };
  } finally {
    stub.setMode('ok');
    await stub.close();
    await sql.end();
  }
}

const HANG_BUDGET_MS = 3000;
const HANG_TIMEOUT_MS = 1000;

async function benchBudget(
  sql: postgres.Sql,
  stub: StubUnipile,
  appEnv: Record<string, string>,
  secret: string,
  runs: number,
  progress: (line: string) => void,
): Promise<BudgetAdherence> {
  const server = await startNext({ ...appEnv, DM_CONCURRENCY: '8', UNIPILE_TIMEOUT_MS: String(HANG_TIMEOUT_MS) });
  try {
    await callRoute(server, secret, 'dryRun=1');
    await resetQueue(sql, 100 * runs);
    stub.setMode('hang');
    const overshootMs: number[] = [];
    const uncertain: number[] = [];
    for (let run = 1; run <= runs; run++) {
      const { wallMs, s } = await callRoute(server, secret, `budgetMs=${HANG_BUDGET_MS}`);
      overshootMs.push(wallMs - HANG_BUDGET_MS);
      uncertain.push(s.uncertain);
      progress(
        `  hanging provider run ${run}/${runs}: returned after ${Math.round(wallMs)} ms (${s.status}, ${s.uncertain} uncertain)`,
      );
    }
    return {
      runs,
      budgetMs: HANG_BUDGET_MS,
      providerTimeoutMs: HANG_TIMEOUT_MS,
      overshootMs,
      overshoot: spread(overshootMs),
      uncertain: spread(uncertain),
    };
  } finally {
    stub.setMode('ok');
    await server.stop();
  }
}
