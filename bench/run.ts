/**
 * npm run bench [-- --quick] [--only=drain,claim,http,analytics] [--out=bench/RESULTS.md]
 *
 * Creates fresh databases on BENCH_DATABASE_URL's server, measures, drops them, writes the report, and ends with the
 * line `engine/best-peer drain ratio: <x.xx>`. The HTTP section builds into .next-bench (NEXT_DIST_DIR) unless a build
 * there is newer than the sources. BENCH_MIGRATIONS_DIR measures a snapshot of the migrations instead of the tree's.
 */
import fs from 'node:fs';
import path from 'node:path';
import { setLogSink } from '../lib/log.ts';
import { type AnalyticsResult, benchAnalytics, loadAnalyticsJob } from './analytics.ts';
import { benchClaimLatency, type ClaimLatencyResult } from './claim-latency.ts';
import { benchDrain, type DrainResult, headlineRatio } from './drain.ts';
import { collectEnv, loadAverage } from './env.ts';
import { benchHttp, type HttpResults } from './http.ts';
import { stopAllServers } from './next-app.ts';
import { DEFAULT_SERVER_URL, dropAllDatabases, serverUrl } from './pg.ts';
import { renderReport } from './report.ts';
import { evaluateTargets, metMark } from './targets.ts';

const SECTIONS = ['drain', 'claim', 'http', 'analytics'] as const;
type Section = (typeof SECTIONS)[number];

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args
  .find((a) => a.startsWith('--only='))
  ?.slice(7)
  .split(',') as Section[] | undefined;
const outFile = path.resolve(args.find((a) => a.startsWith('--out='))?.slice(6) ?? 'bench/RESULTS.md');
const unknown = args.filter((a) => a !== '--quick' && !a.startsWith('--only=') && !a.startsWith('--out='));
if (unknown.length > 0 || only?.some((s) => !SECTIONS.includes(s))) {
  console.error(`usage: npm run bench [-- --quick] [--only=${SECTIONS.join(',')}] [--out=file.md]`);
  process.exit(2);
}
const wanted = (s: Section) => !only || only.includes(s);

const P = quick
  ? { drainItems: 5_000, claimSizes: [10_000, 200_000], claimSamples: 150, analyticsRows: 200_000, budgetRuns: 5 }
  : {
      drainItems: 20_000,
      claimSizes: [10_000, 1_000_000],
      claimSamples: 300,
      analyticsRows: 1_000_000,
      budgetRuns: 20,
    };
const RUNS = 3;

// The engine logs one JSON line per run; thousands of them would bury the bench's own output. Errors still show.
setLogSink((line, level) => {
  if (level === 'error') console.error(line);
});

let cleaning = false;
async function cleanup(): Promise<void> {
  if (cleaning) return;
  cleaning = true;
  await stopAllServers().catch((e: unknown) => console.error('could not stop a server:', e));
  const dropped = await dropAllDatabases().catch((e: unknown) => {
    console.error('could not drop the bench databases:', e);
    return [];
  });
  if (dropped.length) console.log(`dropped ${dropped.join(', ')}`);
}
process.once('SIGINT', () => {
  console.error('\ninterrupted: cleaning up');
  void cleanup().finally(() => process.exit(130));
});

const started = performance.now();
const log = (line: string) => console.log(line);
const server = serverUrl();
if (!server.fromEnv) log(`BENCH_DATABASE_URL is not set: using ${DEFAULT_SERVER_URL}`);
const env = await collectEnv();
log(`bench ${quick ? '--quick' : '(full)'} on ${env.date}`);
log(`machine: ${env.cpu}, ${env.cores} cores, ${env.memoryGiB} GiB, load ${env.loadAverage}`);
log(
  `versions: node ${env.node}, postgres ${env.postgres}, pg-boss ${env.pgBoss}, graphile-worker ${env.graphileWorker}, ` +
    `next ${env.next}, ${env.project}`,
);
log(`server: ${env.server}`);

const sectionSeconds: Record<string, number> = {};
const errors: Record<string, string> = {};
async function section<T>(name: string, work: () => Promise<T>): Promise<T | undefined> {
  log(`\n== ${name}`);
  const t0 = performance.now();
  try {
    return await work();
  } catch (e) {
    errors[name] = e instanceof Error ? e.message : String(e);
    console.error(`${name} failed:`, e);
    await stopAllServers();
    return undefined;
  } finally {
    sectionSeconds[name] = (performance.now() - t0) / 1000;
    log(`   (${Math.round(sectionSeconds[name]!)} s)`);
  }
}

let drain: DrainResult[] | undefined;
let claim: ClaimLatencyResult[] | undefined;
let http: HttpResults | undefined;
let analytics: AnalyticsResult | null | undefined;
try {
  if (wanted('drain'))
    drain = await section(`1. drain throughput, ${P.drainItems} items`, () => benchDrain(P.drainItems, RUNS, log));
  if (wanted('claim'))
    claim = await section('2. claim latency', () => benchClaimLatency(P.claimSizes, RUNS, P.claimSamples, log));
  if (wanted('http'))
    http = await section('3-4. HTTP end to end and budget adherence', () =>
      benchHttp({ quick, runs: RUNS, budgetRuns: P.budgetRuns, concurrencies: [8, 32] }, log),
    );
  if (wanted('analytics')) {
    analytics = await section('5. analytics', async () => {
      const job = await loadAnalyticsJob();
      if (!job) {
        log('  pending: jobs/analytics.ts does not exist yet');
        return null;
      }
      return benchAnalytics(job, P.analyticsRows, RUNS, log);
    });
  }
} finally {
  await cleanup();
}

const totalSeconds = (performance.now() - started) / 1000;
const extra = [quick ? '--quick' : '', only ? `--only=${only.join(',')}` : ''].filter(Boolean);
const command = `npm run bench${extra.length ? ` -- ${extra.join(' ')}` : ''}`;
const results = { quick, drain, claim, http, analytics };
const report = renderReport({
  ...results,
  command,
  env,
  loadAfter: loadAverage(),
  drainItems: P.drainItems,
  sectionSeconds,
  totalSeconds,
  errors,
});
fs.writeFileSync(outFile, report);

log('\n== summary');
for (const t of evaluateTargets(results))
  log(`${metMark(t.met).padEnd(9)} ${t.name}: ${t.measured} (wanted ${t.target})`);
log(`\nreport written to ${path.relative(process.cwd(), outFile)}; total ${Math.round(totalSeconds)} s`);
const ratio = drain ? headlineRatio(drain).ratio.toFixed(2) : 'n/a';
console.log(`engine/best-peer drain ratio: ${ratio}`);
if (Object.keys(errors).length > 0) process.exitCode = 1;
