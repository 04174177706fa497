import { capLessCells, type DrainResult, floorRatios, sameJobRatio } from './drain.ts';
import { ENGINE_CONCURRENCY } from './drain-engine.ts';
import { GRAPHILE_CONCURRENCY } from './drain-peers.ts';
import type { EnvInfo } from './env.ts';
import { PROVIDER_LATENCY_MS } from './http.ts';
import { GRAPHILE_DM_CONCURRENCY } from './peers/graphile-dm.ts';
import { PGBOSS_DM_PARALLEL } from './peers/pg-boss-dm.ts';
import { fmt, fmtSpread } from './stats.ts';
import { evaluateTargets, metMark, type Results } from './targets.ts';

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
  if (r.history) renderHistory(r, out);
  if (r.zeroWork) {
    out.push(
      '## Zero work',
      '',
      `One \`runJob(dmQueue)\` with nothing due (warm connection): ${r.zeroWork.roundTrips} database round trips — ${r.zeroWork.calls.map((c) => `${c.name} ×${c.calls}`).join(', ')}.`,
      '',
    );
  }
  if (r.claim) renderClaim(r, out);
  if (r.http) renderHttp(r, out);
  renderAnalytics(r, out);
  renderCost(r, out);
  out.push('## Time per section', '');
  for (const [s, sec] of Object.entries(r.sectionSeconds)) out.push(`- ${s}: ${fmt(sec, 0)} s`);
  out.push('');
  return out.join('\n');
}

function drainTable(rows: DrainResult[], out: string[]): void {
  out.push(
    row([
      'Configuration',
      'items/s',
      'ms',
      'server CPU ms / 1,000',
      'client CPU ms / 1,000',
      'server xacts / 1,000',
      'client round trips / 1,000',
      'sent · cap breaches',
    ]),
    row(['---', '---', '---', '---', '---', '---', '---', '---']),
  );
  for (const x of rows) {
    out.push(
      row([
        x.label,
        fmtSpread(x.perSec, 0),
        `${fmtSpread(x.ms, 0)}${x.startMs ? ` (start-up ${fmt(x.startMs, 0)})` : ''}`,
        fmtSpread(x.serverCpuMsPer1000, 0),
        fmtSpread(x.clientCpuMsPer1000, 0),
        fmtSpread(x.xactsPer1000, 1),
        x.roundTripsPer1000 === undefined ? '' : fmt(x.roundTripsPer1000, 1),
        x.capBreaches === undefined ? '' : `${x.sent} · ${x.capBreaches}`,
      ]),
    );
  }
}

function renderDrain(r: ReportInput, out: string[]): void {
  const d = r.drain!;
  const runs = d[0]?.perSec.runs ?? 0;
  out.push(
    `## 1. Drain throughput (${r.drainItems.toLocaleString('en-US')} due items per run, ${runs} interleaved rounds)`,
    '',
    'Every run: its items are inserted, then `VACUUM ANALYZE` of the whole database (engine, floors, pgboss and graphile_worker schemas; this server runs with autovacuum off), then the window (clock, CPU, transaction count) starts. Each drainer has its own connections. CPU columns: the database backends’ CPU time (from /proc, PostgreSQL runs on this machine) and the bench process’s, inside the window — much less sensitive than items/s to other load on the machine. The provider answers at once.',
    '',
    '### 1a. Same job: DMs with per-account daily caps in the account’s zone, at most once, fair across accounts',
    '',
    `200 accounts in 6 zones; every 10th account has a cap of 5 a day, below its share, so some DMs must wait for the account’s next local day. ` +
      `Engine: \`runJob(dmQueue)\` (run log, reap, \`claim_due_dms\`, the drain loop at DM_CONCURRENCY=${ENGINE_CONCURRENCY}, \`settle_dms\`), again while a run reports work remaining. ` +
      `pg-boss (bench/peers/pg-boss-dm.ts): a job per DM with \`group: { id: account }\`, \`fetch({ batchSize, groupConcurrency: 1 })\`, per job one statement that checks and counts the cap for the local day and records the send (${PGBOSS_DM_PARALLEL} at a time), the DMs over the cap re-queued with \`startAfter\` = the account’s next local midnight, \`complete(ids)\`. ` +
      `graphile-worker (bench/peers/graphile-dm.ts): a job per DM in a named queue per account (one at a time per account), concurrency ${GRAPHILE_DM_CONCURRENCY}, the same statement through \`helpers.query\`, over the cap \`helpers.addJob(…, { queueName, runAt })\`; no local queue (it breaks the named queues’ one-at-a-time, graphile/worker#621); its window includes its runners’ start-up (they start after the inserts). ` +
      'Floors: the two-column table (`UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED LIMIT B) RETURNING` + one bulk completion), and the same two statements on a copy of dm_queue (same columns, generated column, CHECKs and indexes; no triggers): no caps, no fairness, no state machine. ' +
      'Cap breaches: (account, local day) pairs with more sends than the cap, counted from each system’s own record (dm_queue; the peers’ sends tables), worst run.',
    '',
  );
  drainTable(
    d.filter((x) => x.section === 'same-job'),
    out,
  );
  const h = sameJobRatio(d);
  out.push(
    '',
    `Same-job ratio: best engine (${h.engine.label}) ÷ best peer (${h.peer.label}) = **${fmt(h.ratio)}×**.`,
    '',
  );
  for (const f of floorRatios(d, 'floor-dm')) out.push(`- ${f.engine.label} ÷ ${f.floor.label} = ${fmt(f.ratio)}×`);
  for (const f of floorRatios(d, 'plain-sql')) out.push(`- ${f.engine.label} ÷ ${f.floor.label} = ${fmt(f.ratio)}×`);
  out.push(
    '',
    '### 1b. Cap-less core: no-op items',
    '',
    `Engine: \`runJob(defineTaskJob(…))\` — the core's generic task queue (\`tasks\`: no account, at least once, one SKIP LOCKED claim and one settle through queue_transition per batch) with a no-op handler; for reference also \`runJob(postScheduler)\`, queue_define’s account-keyed claim with no cap (posts over the same 200 accounts). pg-boss: \`fetch(batchSize)\` → \`complete(ids)\` per instance. graphile-worker: \`run()\` with concurrency ${GRAPHILE_CONCURRENCY}, local queue 500, completeJobBatchDelay 0, no-op task, started after the inserts. Each cell compares the engine with the best peer at the same batch (pg-boss) and drainers (both).`,
    '',
  );
  drainTable(
    d.filter((x) => x.section === 'cap-less'),
    out,
  );
  out.push('');
  for (const c of capLessCells(d)) out.push(`- ${c.engine.label} ÷ ${c.peer.label} = ${fmt(c.ratio)}×`);
  out.push(
    '',
    'Where the engine spends its time (last run of each configuration, client-side wait per SQL function):',
    '',
    row(['Configuration', 'function', 'calls', 'ms total', 'ms / call']),
    row(['---', '---', '---', '---', '---']),
  );
  for (const x of d.filter((y) => y.callStats)) {
    for (const [fn, s] of x.callStats!) out.push(row([x.label, fn, s.calls, fmt(s.ms, 0), fmt(s.ms / s.calls)]));
  }
  out.push('');
}

function renderHistory(r: ReportInput, out: string[]): void {
  const x = r.history!;
  out.push(
    '## History cost',
    '',
    `\`claim_due_dms\` (batch 100, caps on) and \`settle_dms\` (every DM sent) with 10,000 pending DMs over 10,000 accounts: with no finished DM, then with ${x.full.history.toLocaleString('en-US')} finished ones (90 % sent, 10 % failed) over the past 100 days${r.quick ? ' (--quick: a smaller history than the 1,000,000 the target names)' : ''}. ${x.samplesPerRun} claim+settle cycles per run after 20 warm-up cycles; settled rows go back to pending outside the timed window.`,
    '',
    row(['Finished DMs', 'claim p50 ms', 'claim p99 ms', 'settle p50 ms', 'settle p99 ms']),
    row(['---', '---', '---', '---', '---']),
  );
  for (const p of [x.none, x.full]) {
    out.push(
      row([
        p.history.toLocaleString('en-US'),
        fmtSpread(p.claimP50),
        fmtSpread(p.claimP99),
        fmtSpread(p.settleP50),
        fmtSpread(p.settleP99),
      ]),
    );
  }
  out.push('', `p99 ratios (medians): claim ${fmt(x.claimRatio)}×, settle ${fmt(x.settleRatio)}×.`, '');
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
    `\`next start\` (build ${h.build.buildId}${h.build.built ? `, built for this run in ${fmt(h.build.ms / 1000, 0)} s` : ', reused'}), DATABASE_URL to a bench database, a stand-in Unipile on 127.0.0.1 answering \`POST /api/v1/chats\` after ${PROVIDER_LATENCY_MS} ms, one GET of /api/cron/dm-queue per run (\`?limit=10000\`${r.quick ? '&budgetMs=15000' : ', the route’s own 55 s budget'}; continuation disabled with the depth header). Ideal = DM_CONCURRENCY × budget ÷ ${PROVIDER_LATENCY_MS} ms. DM_BATCH_SIZE is not set: the engine’s default (as many as DM_CONCURRENCY). Rows with DM_PREFETCH=1: the opt-in prefetch (the next batch claimed while this one is in flight; a killed run can leave up to 2 batches \`uncertain\`).`,
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
        `${t.concurrency}${t.prefetch ? ', DM_PREFETCH=1' : ''}`,
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
  const c = h.coldStart;
  out.push(
    '',
    `Cold start: spawning \`next start\` (a new process, postgres.js) to the first byte of GET /api/cron/dm-queue with nothing due: ${fmtSpread(c.ms, 0)} ms over ${c.runs} runs. Traced function size: ${fmt(c.traced.bytes / 2 ** 20, 1)} MiB (${c.traced.files} files: the route and every file of \`${c.traced.nft}\`).`,
  );
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
  for (const x of r.drain?.filter((y) => y.system === 'engine-dm') ?? []) {
    out.push(
      `- ${x.label}: ${fmt(x.roundTripsPer1000 ?? Number.NaN, 1)} client round trips (counting Db wrapper), ${fmt(x.xactsPer1000.median, 1)} server transactions.`,
    );
  }
  for (const t of r.http?.throughput ?? []) {
    out.push(
      `- HTTP, DM_CONCURRENCY=${t.concurrency}${t.prefetch ? ' DM_PREFETCH=1' : ''} (default batch), ${PROVIDER_LATENCY_MS} ms provider: ${fmt(t.fnSecondsPer1000.median, 1)} function-seconds (duration × invocations ÷ DMs × 1,000) and ${fmt(t.xactsPer1000.median, 1)} server transactions.`,
    );
  }
  out.push('');
}
