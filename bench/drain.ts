import type { CallStats } from './counting-db.ts';
import { type CpuWindow, startCpuWindow } from './cpu.ts';
import { countSent, type EngineRun, runEngine, seedEngine, setupEngine } from './drain-engine.ts';
import {
  runFloor,
  runGraphile,
  runPgBoss,
  seedFloor,
  seedPgBoss,
  setupFloor,
  setupGraphile,
  setupPgBoss,
} from './drain-peers.ts';
import { createMigratedDatabase, rawSql, type TimedWindow, transactionCount } from './pg.ts';
import { type Spread, sleep, spread } from './stats.ts';

export type DrainSystem = 'engine' | 'pg-boss' | 'graphile-worker' | 'plain-sql';

export interface DrainConfig {
  system: DrainSystem;
  batch: number;
  drainers: number;
}

export interface DrainResult extends DrainConfig {
  label: string;
  perSec: Spread;
  ms: Spread;
  /** Server-side transactions (commits + rollbacks) per 1,000 items: the same yardstick for every system. */
  xactsPer1000: Spread;
  /** CPU ms per 1,000 items of the database's backends (NaN when the server is not local) and of this process. */
  serverCpuMsPer1000: Spread;
  clientCpuMsPer1000: Spread;
  /** Engine only: client round trips per 1,000 DMs (counting Db), by SQL function, from the last run. */
  roundTripsPer1000?: number;
  callStats?: Map<string, CallStats>;
  invocations?: Spread;
}

export function drainConfigs(): DrainConfig[] {
  const configs: DrainConfig[] = [];
  for (const drainers of [1, 2]) {
    for (const batch of [100, 500]) configs.push({ system: 'engine', batch, drainers });
    for (const batch of [100, 500]) configs.push({ system: 'pg-boss', batch, drainers });
    configs.push({ system: 'graphile-worker', batch: 500, drainers });
    for (const batch of [100, 500, 1000]) configs.push({ system: 'plain-sql', batch, drainers });
  }
  return configs;
}

export function labelOf(c: DrainConfig): string {
  const what =
    c.system === 'graphile-worker'
      ? 'graphile-worker (local queue 500, batch delay 0)'
      : `${c.system}, batch ${c.batch}`;
  return `${what}, ${c.drainers} drainer${c.drainers > 1 ? 's' : ''}`;
}

/**
 * Drain throughput: N due items per run for every configuration, all systems in one database on the same server, in
 * interleaved rounds (round 1 runs every configuration once, then round 2, …) so a noisy neighbour spreads over all.
 */
export async function benchDrain(n: number, runs: number, progress: (line: string) => void): Promise<DrainResult[]> {
  const { url, db } = await createMigratedDatabase('drain');
  await db.close();
  const sql = rawSql(url, 1);
  const dbName = new URL(url).pathname.slice(1);
  try {
    const [me] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`;
    const adminPid = new Set([String(me?.pid)]);
    await setupEngine(sql);
    await setupFloor(sql);
    await setupPgBoss(url);
    await setupGraphile(url);

    const configs = drainConfigs();
    const samples = configs.map(() => ({
      ms: [] as number[],
      xacts: [] as number[],
      invocations: [] as number[],
      serverCpu: [] as number[],
      clientCpu: [] as number[],
      last: undefined as EngineRun | undefined,
    }));
    for (let round = 1; round <= runs; round++) {
      for (const [i, c] of configs.entries()) {
        const s = samples[i]!;
        let ms: number;
        if (c.system === 'engine') await seedEngine(sql, n);
        if (c.system === 'pg-boss') await seedPgBoss(url, sql, n);
        if (c.system === 'plain-sql') await seedFloor(sql, n);
        let x0 = 0;
        let cpu: { stop(): CpuWindow } | undefined;
        let used: CpuWindow = { serverMs: Number.NaN, clientMs: Number.NaN };
        const window: TimedWindow = {
          start: async () => {
            x0 = await transactionCount(sql);
            cpu = startCpuWindow(dbName, adminPid);
          },
          end: () => {
            if (cpu) used = cpu.stop();
          },
        };
        if (c.system === 'engine') {
          const r = await runEngine(url, n, c.batch, c.drainers, window);
          const sent = await countSent(sql);
          if (sent !== n || r.sent !== n) throw new Error(`engine sent ${sent} (provider saw ${r.sent}) of ${n}`);
          ms = r.ms;
          s.last = r;
          s.invocations.push(r.invocations);
        } else if (c.system === 'pg-boss') ms = await runPgBoss(url, n, c.batch, c.drainers, window);
        else if (c.system === 'graphile-worker') ms = await runGraphile(url, sql, n, c.drainers, window);
        else ms = await runFloor(url, n, c.batch, c.drainers, window);
        // Backends flush their statistics when they exit; the drainers' connections are closed by now.
        await sleep(100);
        const x1 = await transactionCount(sql);
        s.ms.push(ms);
        s.xacts.push(((x1 - x0) / n) * 1000);
        s.serverCpu.push((used.serverMs / n) * 1000);
        s.clientCpu.push((used.clientMs / n) * 1000);
        progress(
          `  round ${round}/${runs} ${labelOf(c)}: ${Math.round((n / ms) * 1000)} items/s (${Math.round(ms)} ms)`,
        );
      }
    }
    return configs.map((c, i) => {
      const s = samples[i]!;
      const result: DrainResult = {
        ...c,
        label: labelOf(c),
        perSec: spread(s.ms.map((ms) => (n / ms) * 1000)),
        ms: spread(s.ms),
        xactsPer1000: spread(s.xacts),
        serverCpuMsPer1000: spread(s.serverCpu),
        clientCpuMsPer1000: spread(s.clientCpu),
      };
      if (s.last) {
        result.roundTripsPer1000 = (s.last.stats.size ? sumCalls(s.last.stats) : 0) / (n / 1000);
        result.callStats = s.last.stats;
        result.invocations = spread(s.invocations);
      }
      return result;
    });
  } finally {
    await sql.end();
  }
}

function sumCalls(stats: Map<string, CallStats>): number {
  return [...stats.values()].reduce((t, s) => t + s.calls, 0);
}

/** The engine's best median over the best peer's (pg-boss, graphile-worker); plain SQL is the floor, not a peer. */
export function headlineRatio(results: DrainResult[]): { engine: DrainResult; peer: DrainResult; ratio: number } {
  const best = (rs: DrainResult[]) => rs.reduce((a, b) => (b.perSec.median > a.perSec.median ? b : a));
  const engine = best(results.filter((r) => r.system === 'engine'));
  const peer = best(results.filter((r) => r.system === 'pg-boss' || r.system === 'graphile-worker'));
  return { engine, peer, ratio: engine.perSec.median / peer.perSec.median };
}
