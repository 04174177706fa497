import { ENGINE_CONCURRENCY } from './drain-engine.ts';
import { GRAPHILE_CONCURRENCY } from './drain-peers.ts';
import type { EnvInfo } from './env.ts';
import { PROVIDER_LATENCY_MS } from './http.ts';
import { fmt, fmtSpread } from './stats.ts';
import { evaluateTargets, floorRatios, metMark, peerRatios, type Results } from './targets.ts';

export interface ReportInput extends Results {
  command: string;
  env: EnvInfo;
  loadAfter: string;
  drainItems: number;
  sectionSeconds: Record<string, number>;
  totalSeconds: number;
  errors: Record<string, string>;
}

const row = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;

/** bench/RESULTS.md: how it was made, the targets, then every section's table. */
export function renderReport(r: ReportInput): string {
  const out: string[] = [];
  const e = r.env;
  out.push('# Benchmark results', '');
  out.push(`Made by \`${r.command}\` on ${e.date} in ${fmt(r.totalSeconds / 60, 1)} min.`, '');
  out.push(
    `- Machine: ${e.cpu}, ${e.cores} cores, ${e.memoryGiB} GiB; load average ${e.loadAverage} at the start, ${r.loadAfter} at the end (the machine is shared: other work may have run meanwhile).`,
    `- Versions: node ${e.node}, PostgreSQL ${e.postgres}, pg-boss ${e.pgBoss}, graphile-worker ${e.graphileWorker}, next ${e.next}, ${e.project}.`,
    `- Server: ${e.server} (fresh \`bench_*\` databases, dropped at the end).`,
    '- Every figure is min / **median** / max over the runs stated; profiling notes and proposed engine changes: [FINDINGS.md](FINDINGS.md).',
    '',
  );
  out.push('## Targets', '', row(['Target', 'Wanted', 'Measured', 'Met']), row(['---', '---', '---', '---']));
  for (const t of evaluateTargets(r)) out.push(row([t.name, t.target, t.measured, metMark(t.met)]));
  out.push('');
  for (const [section, error] of Object.entries(r.errors)) out.push(`> **${section} failed:** ${error}`, '');
  if (r.drain) renderDrain(r, out);
  if (r.claim) renderClaim(r, out);
  if (r.http) renderHttp(r, out);
  renderAnalytics(r, out);
  renderCost(r, out);
  out.push('## Time per section', '');
  for (const [s, sec] of Object.entries(r.sectionSeconds)) out.push(`- ${s}: ${fmt(sec, 0)} s`);
  out.push('');
  return out.join('\n');
}

function renderDrain(r: ReportInput, out: string[]): void {
  const d = r.drain!;
  out.push(
    `## 1. Drain throughput (${r.drainItems.toLocaleString('en-US')} due items, ${d[0]?.perSec.runs ?? 0} runs each)`,
    '',
    `Engine: \`runJob(dmQueue)\` (run log, reap, \`claim_due_dms\` with caps over 200 accounts, the drain loop, \`settle_dms\`) with a zero-latency provider, DM_CONCURRENCY=${ENGINE_CONCURRENCY}; a drainer runs again while its run reports work remaining. ` +
      `pg-boss: \`fetch(batchSize)\` → \`complete(ids)\` loop per instance. graphile-worker: \`run()\` with concurrency ${GRAPHILE_CONCURRENCY}, local queue 500, completeJobBatchDelay 0, no-op task; timed from the commit that adds the jobs to an empty job table. ` +
      'Plain SQL: `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED LIMIT B) RETURNING` + one bulk completion per batch. Each drainer has its own connections; rounds are interleaved. ' +
      'CPU columns: the database backends’ CPU time (from /proc, PostgreSQL runs on this machine) and the bench process’s, inside the timed window — much less sensitive than items/s to other load on the machine.',
    '',
    row([
      'Configuration',
      'items/s',
      'ms',
      'server CPU ms / 1,000',
      'client CPU ms / 1,000',
      'server xacts / 1,000',
      'client round trips / 1,000',
    ]),
    row(['---', '---', '---', '---', '---', '---', '---']),
  );
  for (const x of d) {
    out.push(
      row([
        x.label,
        fmtSpread(x.perSec, 0),
        fmtSpread(x.ms, 0),
        fmtSpread(x.serverCpuMsPer1000, 0),
        fmtSpread(x.clientCpuMsPer1000, 0),
        fmtSpread(x.xactsPer1000, 1),
        x.roundTripsPer1000 === undefined ? '' : fmt(x.roundTripsPer1000, 1),
      ]),
    );
  }
  out.push('', 'Ratios (medians):', '');
  for (const p of peerRatios(d)) {
    out.push(
      `- ${p.drainers} drainer(s): best engine (${p.engine.label}) ÷ best peer (${p.peer.label}) = ${fmt(p.engine.perSec.median / p.peer.perSec.median)}×`,
    );
  }
  for (const f of floorRatios(d)) out.push(`- ${f.engine.label} ÷ ${f.floor.label} = ${fmt(f.ratio)}×`);
  out.push(
    '',
    'Where the engine spends its time (last run of each configuration, client-side wait per SQL function):',
    '',
  );
  out.push(
    row(['Configuration', 'function', 'calls', 'ms total', 'ms / call']),
    row(['---', '---', '---', '---', '---']),
  );
  for (const x of d.filter((y) => y.callStats)) {
    for (const [fn, s] of x.callStats!) out.push(row([x.label, fn, s.calls, fmt(s.ms, 0), fmt(s.ms / s.calls)]));
  }
  out.push('');
}

function renderClaim(r: ReportInput, out: string[]): void {
  const c = r.claim!;
  out.push(
    '## 2. Claim latency (`claim_due_dms`, caps on (dm_daily_limit 25), batch 100, 10,000 accounts)',
    '',
    `Each claim commits (accounts rotate as in production), then its rows are put back to pending outside the timed window. ${c[0]?.samplesPerRun ?? 0} claims per run after 20 warm-up claims.`,
    '',
    row(['Pending rows', 'p50 ms', 'p99 ms']),
    row(['---', '---', '---']),
  );
  for (const x of c) out.push(row([x.pending.toLocaleString('en-US'), fmtSpread(x.p50), fmtSpread(x.p99)]));
  const last = c.at(-1);
  if (last?.explain) {
    out.push(
      '',
      `<details><summary>auto_explain of one claim at ${last.pending.toLocaleString('en-US')} rows (nested statements; the per-row timezone CHECK plans are left out)</summary>`,
      '',
      '```',
      last.explain,
      '```',
      '</details>',
    );
  }
  out.push('');
}

function renderHttp(r: ReportInput, out: string[]): void {
  const h = r.http!;
  out.push(
    '## 3. End to end through HTTP',
    '',
    `\`next start\` (build ${h.build.buildId}${h.build.built ? `, built for this run in ${fmt(h.build.ms / 1000, 0)} s` : ', reused'}), DATABASE_URL to a bench database, a stand-in Unipile on 127.0.0.1 answering \`POST /api/v1/chats\` after ${PROVIDER_LATENCY_MS} ms, one GET of /api/cron/dm-queue per run (\`?limit=10000\`${r.quick ? '&budgetMs=15000' : ', the route’s own 55 s budget'}; continuation disabled with the depth header). Ideal = DM_CONCURRENCY × budget ÷ ${PROVIDER_LATENCY_MS} ms. DM_BATCH_SIZE is not set: the engine’s default (as many as DM_CONCURRENCY).`,
    '',
    row([
      'DM_CONCURRENCY',
      'DMs sent',
      'ideal',
      '% of ideal',
      'wall ms',
      'batches',
      'function-s / 1,000 DMs',
      'server xacts / 1,000 DMs',
    ]),
    row(['---', '---', '---', '---', '---', '---', '---', '---']),
  );
  for (const t of h.throughput) {
    out.push(
      row([
        t.concurrency,
        fmtSpread(t.sent, 0),
        fmt(t.ideal, 0),
        fmtSpread(
          { ...t.ofIdeal, min: t.ofIdeal.min * 100, median: t.ofIdeal.median * 100, max: t.ofIdeal.max * 100 },
          1,
        ),
        fmtSpread(t.wallMs, 0),
        `${fmtSpread(t.batches, 0)} (${fmt(t.sent.median / t.batches.median, 1)})`,
        fmtSpread(t.fnSecondsPer1000, 1),
        fmtSpread(t.xactsPer1000, 1),
      ]),
    );
  }
  const b = h.budget;
  out.push(
    '',
    '## 4. Budget adherence (hanging provider)',
    '',
    `Through HTTP: ?budgetMs=${b.budgetMs}, UNIPILE_TIMEOUT_MS=${b.providerTimeoutMs}, DM_CONCURRENCY=8, the stand-in accepts each request and never answers. ${b.runs} runs; overshoot = wall clock of the call − budget (negative: returned before the budget).`,
    '',
    `- Overshoot ms: ${fmtSpread(b.overshoot, 0)}; every run: ${b.overshootMs.map((x) => fmt(x, 0)).join(', ')}`,
    `- DMs marked uncertain per run: ${fmtSpread(b.uncertain, 0)}`,
    '',
  );
}

function renderAnalytics(r: ReportInput, out: string[]): void {
  out.push('## 5. Analytics', '');
  const a = r.analytics;
  if (a === null) {
    out.push('Pending: jobs/analytics.ts did not exist when this ran.', '');
    return;
  }
  if (!a) return;
  out.push(
    `One UTC day (${a.day}) of ${a.rows.toLocaleString('en-US')} DM rows (90 % sent, 7 % failed, 3 % uncertain) over 10,000 accounts. Chunked: runJob(analytics) until it reports ok (the other six look-back days pre-marked complete, as in steady state). Baseline: one statement, a GROUP BY over the day (a UNION ALL of three index-only range scans, one per outcome) upserted into daily_stats, plus the roll-up. Both produce the same totals: ${a.same ? 'yes' : '**no**'}.`,
    '',
    row(['Path', 'ms', 'invocations', 'chunks']),
    row(['---', '---', '---', '---']),
    row(['chunked (runJob)', fmtSpread(a.chunkedMs, 0), fmtSpread(a.invocations, 0), fmtSpread(a.chunks, 0)]),
    row(['single GROUP BY', fmtSpread(a.groupByMs, 0), '1', '1']),
    '',
    `Chunked ÷ GROUP BY per run: ${fmtSpread(a.ratio)}`,
    '',
  );
}

function renderCost(r: ReportInput, out: string[]): void {
  out.push('## 6. Cost per 1,000 DMs', '');
  for (const x of r.drain?.filter((y) => y.system === 'engine') ?? []) {
    out.push(
      `- ${x.label}: ${fmt(x.roundTripsPer1000 ?? Number.NaN, 1)} client round trips (counting Db wrapper), ${fmt(x.xactsPer1000.median, 1)} server transactions.`,
    );
  }
  for (const t of r.http?.throughput ?? []) {
    out.push(
      `- HTTP, DM_CONCURRENCY=${t.concurrency} (default batch), ${PROVIDER_LATENCY_MS} ms provider: ${fmt(t.fnSecondsPer1000.median, 1)} function-seconds (duration × invocations ÷ DMs × 1,000) and ${fmt(t.xactsPer1000.median, 1)} server transactions.`,
    );
  }
  out.push('');
}
