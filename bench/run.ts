/**
 * npm run bench [-- --quick] [--only=drain,history,zero,claim,http,analytics] [--out=file.md]
 *
 * Creates fresh databases on BENCH_DATABASE_URL's server, measures, drops them, writes the report (the full run:
 * bench/RESULTS.md; --quick or --only: a temporary file, so a partial run never replaces the committed figures),
 * prints one line per headline figure and ends with `engine/best-peer drain ratio: <x.xx>` (the same-job ratio). The HTTP section builds into .next-bench (NEXT_DIST_DIR) unless a build
 * there is newer than the sources. BENCH_MIGRATIONS_DIR measures a snapshot of the migrations instead of the tree's.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setLogSink } from '../lib/log.ts';
import { type AnalyticsResult, benchAnalytics, loadAnalyticsJob } from './analytics.ts';
import { benchClaimLatency, type ClaimLatencyResult } from './claim-latency.ts';
import { benchDrain, capLessCells, type DrainResult, headlineRatio } from './drain.ts';
import { collectEnv, loadAverage } from './env.ts';
import { benchHistoryCost, type HistoryCostResult } from './history-cost.ts';
import { benchHttp, type HttpResults } from './http.ts';
import { stopAllServers } from './next-app.ts';
import { DEFAULT_SERVER_URL, dropAllDatabases, serverUrl } from './pg.ts';
import { renderReport } from './report.ts';
import { fmt } from './stats.ts';
import { clientCpuPerDm, evaluateTargets, metMark } from './targets.ts';
import { benchZeroWork, type ZeroWorkResult } from './zero-work.ts';

const SECTIONS = ['drain', 'history', 'zero', 'claim', 'http', 'analytics'] as const;
type Section = (typeof SECTIONS)[number];

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args
  .find((a) => a.startsWith('--only='))
  ?.slice(7)
  .split(',') as Section[] | undefined;
const outArg = args.find((a) => a.startsWith('--out='))?.slice(6);
const outFile = path.resolve(
  outArg ??
    (quick || only
      ? path.join(os.tmpdir(), `bench-${quick ? 'quick' : 'partial'}-${Date.now()}.md`)
      : 'bench/RESULTS.md'),
);
const unknown = args.filter((a) => a !== '--quick' && !a.startsWith('--only=') && !a.startsWith('--out='));
if (unknown.length > 0 || only?.some((s) => !SECTIONS.includes(s))) {
  console.error(`usage: npm run bench [-- --quick] [--only=${SECTIONS.join(',')}] [--out=file.md]`);
  process.exit(2);
}
const wanted = (s: Section) => !only || only.includes(s);

const P = quick
  ? {
      drainItems: 5_000,
      claimSizes: [10_000, 200_000],
      claimSamples: 150,
      history: 200_000,
      historySamples: 150,
      analyticsRows: 200_000,
      budgetRuns: 5,
    }
  : {
      drainItems: 10_000,
      claimSizes: [10_000, 1_000_000],
      claimSamples: 300,
      history: 1_000_000,
      historySamples: 300,
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
let history: HistoryCostResult | undefined;
let zeroWork: ZeroWorkResult | undefined;
let http: HttpResults | undefined;
let analytics: AnalyticsResult | null | undefined;
try {
  if (wanted('drain'))
    drain = await section(`1. drain throughput, ${P.drainItems} items`, () => benchDrain(P.drainItems, RUNS, log));
  if (wanted('history'))
    history = await section(
      `history cost, ${P.history.toLocaleString('en-US')} finished DMs${quick ? ' (--quick: smaller than the 1,000,000 of the target)' : ''}`,
      () => benchHistoryCost(P.history, RUNS, P.historySamples, log),
    );
  if (wanted('zero')) zeroWork = await section('zero-work round trips', () => benchZeroWork());
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
const results = { quick, drain, claim, history, zeroWork, http, analytics };
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
log(
  `\nreport written to ${outFile}${quick || only ? ' (not bench/RESULTS.md: only a full run replaces it)' : ''}; total ${Math.round(totalSeconds)} s`,
);
const n2 = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? 'n/a' : x.toFixed(2));
log('');
const sameJob = drain ? headlineRatio(drain) : undefined;
log(`same-job drain ratio: ${n2(sameJob?.ratio)}`);
const cells = drain ? capLessCells(drain) : [];
log(`cap-less drain ratio: ${n2(cells.length ? Math.min(...cells.map((c) => c.ratio)) : undefined)}`);
if (history && quick)
  log(
    `(history cost with ${history.full.history.toLocaleString('en-US')} finished DMs: --quick; the target names 1,000,000)`,
  );
log(`history cost ratio: ${n2(history?.ratio)}`);
const biggest = claim?.at(-1);
log(
  `claim p99 at ${biggest ? biggest.pending.toLocaleString('en-US') : '?'} pending: ${biggest ? `${fmt(biggest.p99.median)} ms` : 'n/a'}`,
);
log(`zero-work round trips: ${zeroWork ? zeroWork.roundTrips : 'n/a'}`);
const cpu = drain ? clientCpuPerDm(drain) : undefined;
log(`client CPU per DM: ${cpu ? fmt(cpu.clientCpuMsPer1000.median, 1) : 'n/a'} µs`);
log(
  `cold start: ${http ? `${fmt(http.coldStart.ms.median, 0)} ms` : 'n/a'} (next start → first byte of /api/cron/dm-queue)`,
);
log(
  `traced function size: ${http ? `${fmt(http.coldStart.traced.bytes / 2 ** 20, 1)} MiB` : 'n/a'} (${http?.coldStart.traced.nft ?? 'dm-queue route.js.nft.json'})`,
);
for (const d of drain?.filter((x) => x.capBreaches !== undefined) ?? []) {
  if (d.capBreaches !== 0) log(`CAP BREACH: ${d.label}: ${d.capBreaches}`);
}
console.log(`engine/best-peer drain ratio: ${n2(sameJob?.ratio)}`);
if (Object.keys(errors).length > 0) process.exitCode = 1;
