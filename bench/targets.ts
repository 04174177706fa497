import type { AnalyticsResult } from './analytics.ts';
import type { ClaimLatencyResult } from './claim-latency.ts';
import { capLessCells, type DrainResult, floorRatios, sameJobRatio } from './drain.ts';
import type { HistoryCostResult } from './history-cost.ts';
import type { HttpResults } from './http.ts';
import { fmt } from './stats.ts';
import type { ZeroWorkResult } from './zero-work.ts';

export interface Results {
  quick: boolean;
  drain?: DrainResult[];
  claim?: ClaimLatencyResult[];
  history?: HistoryCostResult;
  zeroWork?: ZeroWorkResult;
  http?: HttpResults;
  /** null: jobs/analytics.ts did not exist when the section came up. */
  analytics?: AnalyticsResult | null;
}

export interface Target {
  name: string;
  target: string;
  measured: string;
  /** null: not measured (section failed, skipped or pending), or a figure with no target. */
  met: boolean | null;
}

const per = (r: DrainResult) => `${r.label} ${fmt(r.perSec.median, 0)}/s`;

/** The engine's DM queue drained with the least client CPU per DM (µs per DM = ms per 1,000 DMs). */
export function clientCpuPerDm(drain: DrainResult[]): DrainResult | undefined {
  const engines = drain.filter((r) => r.system === 'engine-dm');
  if (engines.length === 0) return undefined;
  return engines.reduce((a, b) => (b.clientCpuMsPer1000.median < a.clientCpuMsPer1000.median ? b : a));
}

export function evaluateTargets(r: Results): Target[] {
  const targets: Target[] = [];
  const notMeasured = (name: string, target: string) =>
    targets.push({ name, target, measured: 'not measured', met: null });
  if (r.drain) {
    const h = sameJobRatio(r.drain);
    const breaches = r.drain
      .filter((x) => x.capBreaches !== undefined)
      .map((x) => `${x.system} ${x.capBreaches}`)
      .filter((v, i, a) => a.indexOf(v) === i);
    const worstBreach = Math.max(...r.drain.map((x) => x.capBreaches ?? 0));
    targets.push({
      name: 'Same-job drain vs best peer (DM job with caps)',
      target: '≥ 2.0× (engine best median ÷ best peer median)',
      measured: `${fmt(h.ratio)}× (${per(h.engine)} vs ${per(h.peer)})`,
      met: h.ratio >= 2.0,
    });
    targets.push({
      name: 'Cap breaches in the DM job (every system, its own record)',
      target: '0',
      measured: [...new Set(breaches)].join(', '),
      met: worstBreach === 0,
    });
    const cells = capLessCells(r.drain);
    if (cells.length) {
      const worst = cells.reduce((a, b) => (b.ratio < a.ratio ? b : a));
      targets.push({
        name: 'Cap-less drain vs best peer (no-op items, worst of 4 cells)',
        target: '≥ 1.0×',
        measured: `${fmt(worst.ratio)}× (${cells.map((c) => `b${c.engine.batch}/${c.engine.drainers}d ${fmt(c.ratio)}×`).join(', ')})`,
        met: worst.ratio >= 1.0,
      });
    }
    const dmFloor = floorRatios(r.drain, 'floor-dm');
    if (dmFloor.length) {
      const worst = dmFloor.reduce((a, b) => (b.ratio < a.ratio ? b : a));
      targets.push({
        name: 'Engine vs the dm_queue-shape floor',
        target: '≥ 0.6× at the same batch and drainers (every configuration)',
        measured: dmFloor.map((f) => `b${f.engine.batch}/${f.engine.drainers}d ${fmt(f.ratio)}×`).join(', '),
        met: worst.ratio >= 0.6,
      });
    }
    const plain = floorRatios(r.drain, 'plain-sql');
    if (plain.length) {
      targets.push({
        name: 'Engine vs the two-column plain-SQL floor',
        target: 'reported (no target)',
        measured: plain.map((f) => `b${f.engine.batch}/${f.engine.drainers}d ${fmt(f.ratio)}×`).join(', '),
        met: null,
      });
    }
    const cpu = clientCpuPerDm(r.drain);
    if (cpu) {
      targets.push({
        name: 'Client CPU per DM (drain loop, zero-latency provider)',
        target: '≤ 15 µs',
        measured: `${fmt(cpu.clientCpuMsPer1000.median, 1)} µs (${cpu.label}; median of ${cpu.clientCpuMsPer1000.runs} runs)`,
        met: cpu.clientCpuMsPer1000.median <= 15,
      });
    }
  } else notMeasured('Drain (same job, cap-less, floors, client CPU)', '');
  if (r.history) {
    const x = r.history;
    targets.push({
      name: `History cost (${x.full.history.toLocaleString('en-US')} finished DMs vs none)`,
      target: `≤ 1.3× claim and settle p99${r.quick ? ' (the target is stated for 1,000,000 finished DMs; --quick uses a smaller history)' : ''}`,
      measured: `${fmt(x.ratio)}× (claim ${fmt(x.full.claimP99.median)} vs ${fmt(x.none.claimP99.median)} ms = ${fmt(x.claimRatio)}×, settle ${fmt(x.full.settleP99.median)} vs ${fmt(x.none.settleP99.median)} ms = ${fmt(x.settleRatio)}×)`,
      met: x.ratio <= 1.3,
    });
  } else notMeasured('History cost', '≤ 1.3×');
  const biggest = r.claim?.at(-1);
  if (biggest) {
    targets.push({
      name: `Claim p99 at ${biggest.pending.toLocaleString('en-US')} pending rows`,
      target: `≤ 10 ms${r.quick ? ' (the target is stated for 1,000,000 rows; --quick measures 200,000)' : ''}`,
      measured: `${fmt(biggest.p99.median)} ms (median of ${biggest.p99.runs} runs; max ${fmt(biggest.p99.max)} ms)`,
      met: biggest.p99.median <= 10,
    });
  } else notMeasured('Claim p99', '≤ 10 ms');
  if (r.zeroWork) {
    targets.push({
      name: 'Zero-work round trips (one dm-queue run, nothing due)',
      target: '≤ 2',
      measured: `${r.zeroWork.roundTrips} (${r.zeroWork.calls.map((c) => `${c.name}${c.calls > 1 ? ` ×${c.calls}` : ''}`).join(', ')})`,
      met: r.zeroWork.roundTrips <= 2,
    });
  } else notMeasured('Zero-work round trips', '≤ 2');
  if (r.http) {
    for (const t of r.http.throughput) {
      targets.push({
        name: `HTTP end to end, DM_CONCURRENCY=${t.concurrency}${t.prefetch ? ' DM_PREFETCH=1 (opt-in)' : ''}`,
        target: `≥ 90 % of ideal (concurrency × budget ÷ latency)${r.quick ? ' (stated for 55 s budgets; --quick uses 15 s)' : ''}`,
        measured: `${fmt(t.ofIdeal.median * 100, 1)} % (${fmt(t.sent.median, 0)} of ${fmt(t.ideal, 0)})`,
        met: t.ofIdeal.median >= 0.9,
      });
    }
    const b = r.http.budget;
    targets.push({
      name: 'Budget overshoot (hanging provider)',
      target: `< 1 s in every run (${b.runs} runs)`,
      measured: `max ${fmt(b.overshoot.max, 0)} ms past the budget`,
      met: b.overshoot.max < 1000,
    });
    const c = r.http.coldStart;
    targets.push({
      name: 'Cold start (next start → first byte of a cron route, postgres.js)',
      target: 'reported (no target)',
      measured: `${fmt(c.ms.median, 0)} ms (median of ${c.runs}; ${fmt(c.ms.min, 0)}–${fmt(c.ms.max, 0)} ms)`,
      met: null,
    });
    targets.push({
      name: 'Traced function size (dm-queue route)',
      target: 'reported (no target)',
      measured: `${fmt(c.traced.bytes / 2 ** 20, 1)} MiB in ${c.traced.files} files`,
      met: null,
    });
  } else notMeasured('HTTP / budget / cold start', '');
  if (r.analytics) {
    targets.push({
      name: 'Chunked analytics vs one GROUP BY',
      target: '≤ 1.5×',
      measured: `${fmt(r.analytics.chunkedMs.median / r.analytics.groupByMs.median)}× (medians ${fmt(r.analytics.chunkedMs.median, 0)} vs ${fmt(r.analytics.groupByMs.median, 0)} ms)`,
      met: r.analytics.chunkedMs.median / r.analytics.groupByMs.median <= 1.5,
    });
  } else {
    targets.push({
      name: 'Chunked analytics',
      target: '≤ 1.5×',
      measured: r.analytics === null ? 'pending: jobs/analytics.ts does not exist yet' : 'not measured',
      met: null,
    });
  }
  return targets;
}

export const metMark = (met: boolean | null): string => (met === null ? '—' : met ? '✅ met' : '❌ missed');
