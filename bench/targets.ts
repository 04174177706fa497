import type { AnalyticsResult } from './analytics.ts';
import type { ClaimLatencyResult } from './claim-latency.ts';
import { type DrainResult, headlineRatio } from './drain.ts';
import type { HttpResults } from './http.ts';
import { fmt } from './stats.ts';

export interface Results {
  quick: boolean;
  drain?: DrainResult[];
  claim?: ClaimLatencyResult[];
  http?: HttpResults;
  /** null: jobs/analytics.ts did not exist when the section came up. */
  analytics?: AnalyticsResult | null;
}

export interface Target {
  name: string;
  target: string;
  measured: string;
  /** null: not measured (section failed, skipped or pending). */
  met: boolean | null;
}

/** Engine vs plain SQL at the same batch size and drainer count (medians). */
export function floorRatios(drain: DrainResult[]): { engine: DrainResult; floor: DrainResult; ratio: number }[] {
  return drain
    .filter((r) => r.system === 'engine')
    .flatMap((engine) => {
      const floor = drain.find(
        (f) => f.system === 'plain-sql' && f.batch === engine.batch && f.drainers === engine.drainers,
      );
      return floor ? [{ engine, floor, ratio: engine.perSec.median / floor.perSec.median }] : [];
    });
}

/** Engine vs the best peer with the same number of drainers (medians). */
export function peerRatios(drain: DrainResult[]): { drainers: number; engine: DrainResult; peer: DrainResult }[] {
  return [1, 2].flatMap((drainers) => {
    const same = drain.filter((r) => r.drainers === drainers);
    const engines = same.filter((r) => r.system === 'engine');
    const peers = same.filter((r) => r.system === 'pg-boss' || r.system === 'graphile-worker');
    if (engines.length === 0 || peers.length === 0) return [];
    const best = (rs: DrainResult[]) => rs.reduce((a, b) => (b.perSec.median > a.perSec.median ? b : a));
    return [{ drainers, engine: best(engines), peer: best(peers) }];
  });
}

export function evaluateTargets(r: Results): Target[] {
  const targets: Target[] = [];
  if (r.drain) {
    const h = headlineRatio(r.drain);
    targets.push({
      name: 'Drain vs best peer',
      target: '≥ 1.0× (engine best median ÷ best peer median)',
      measured: `${fmt(h.ratio)}× (${h.engine.label} ${fmt(h.engine.perSec.median, 0)}/s vs ${h.peer.label} ${fmt(h.peer.perSec.median, 0)}/s)`,
      met: h.ratio >= 1.0,
    });
    const floors = floorRatios(r.drain);
    const worst = floors.reduce((a, b) => (b.ratio < a.ratio ? b : a));
    targets.push({
      name: 'Drain vs plain-SQL floor',
      target: '≥ 0.6× at the same batch size (every engine configuration)',
      measured: floors.map((f) => `b${f.engine.batch}/${f.engine.drainers}d ${fmt(f.ratio)}×`).join(', '),
      met: worst.ratio >= 0.6,
    });
  } else targets.push({ name: 'Drain', target: '', measured: 'not measured', met: null });
  const biggest = r.claim?.at(-1);
  targets.push(
    biggest
      ? {
          name: `Claim p99 at ${biggest.pending.toLocaleString('en-US')} rows`,
          target: `≤ 10 ms${r.quick ? ' (the target is stated for 1,000,000 rows; quick measures 200,000)' : ''}`,
          measured: `${fmt(biggest.p99.median)} ms (median of ${biggest.p99.runs} runs; max ${fmt(biggest.p99.max)} ms)`,
          met: biggest.p99.median <= 10,
        }
      : { name: 'Claim p99', target: '≤ 10 ms', measured: 'not measured', met: null },
  );
  if (r.http) {
    for (const t of r.http.throughput) {
      targets.push({
        name: `HTTP end to end, DM_CONCURRENCY=${t.concurrency}`,
        target: '≥ 90 % of ideal (concurrency × budget ÷ latency)',
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
  } else targets.push({ name: 'HTTP / budget', target: '', measured: 'not measured', met: null });
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
