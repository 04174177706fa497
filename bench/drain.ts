import type postgres from 'postgres';
import type { CallStats } from './counting-db.ts';
import { type CpuWindow, startCpuWindow } from './cpu.ts';
import {
  type EngineRun,
  enginePostJob,
  engineRecord,
  engineTaskJob,
  runEngine,
  seedEngine,
  seedEnginePosts,
  seedEngineTasks,
  setupEngine,
  tasksDone,
} from './drain-engine.ts';
import {
  runFloor,
  runFloorDm,
  runGraphile,
  runPgBoss,
  seedFloor,
  seedFloorDm,
  seedGraphile,
  seedPgBoss,
  setupFloor,
  setupFloorDm,
  setupGraphile,
  setupPgBoss,
} from './drain-peers.ts';
import { expectedSends, peerCapBreaches, resetPeerRecord, setupPeerAccounts, setupPeerRecord } from './peers/dm-cap.ts';
import { graphileDmPrefix, runGraphileDm, seedGraphileDm } from './peers/graphile-dm.ts';
import { pgBossDmPrefix, runPgBossDm, seedPgBossDm, setupPgBossDm } from './peers/pg-boss-dm.ts';
import { createMigratedDatabase, rawSql, type TimedWindow, transactionCount } from './pg.ts';
import { type Spread, sleep, spread } from './stats.ts';

/**
 * Same job: the DM job (caps per account and local day, at most once, fair across accounts) on the engine
 * (runJob(dmQueue)), on pg-boss and on graphile-worker (bench/peers/), and the two plain-SQL floors.
 * Cap-less: no-op items on the engine's generic task queue (and, for reference, the post queue: account-keyed, no
 * cap), pg-boss, graphile-worker.
 */
export type DrainSystem =
  | 'engine-dm'
  | 'pg-boss-dm'
  | 'graphile-dm'
  | 'plain-sql'
  | 'floor-dm'
  | 'engine-posts'
  | 'engine-tasks'
  | 'pg-boss'
  | 'graphile-worker';

export type DrainSection = 'same-job' | 'cap-less';

export interface DrainConfig {
  system: DrainSystem;
  batch: number;
  drainers: number;
}

export interface DrainResult extends DrainConfig {
  section: DrainSection;
  label: string;
  perSec: Spread;
  ms: Spread;
  /** Server-side transactions (commits + rollbacks) per 1,000 items: the same yardstick for every system. */
  xactsPer1000: Spread;
  /** CPU ms per 1,000 items of the database's backends (NaN when the server is not local) and of this process. */
  serverCpuMsPer1000: Spread;
  clientCpuMsPer1000: Spread;
  /** DM job only: the worst count, over the runs, of (account, local day) pairs over the cap in the system's record. */
  capBreaches?: number;
  /** DM job only: DMs sent per run (the same for every system: what today's caps allow). */
  sent?: number;
  /** graphile-worker: median time its runners took to start, inside ms. */
  startMs?: number;
  /** Engine only: client round trips per 1,000 items (counting Db), by SQL function, from the last run. */
  roundTripsPer1000?: number;
  callStats?: Map<string, CallStats>;
  invocations?: Spread;
}

export const isPeer = (s: DrainSystem): boolean => s.startsWith('pg-boss') || s.startsWith('graphile');
export const isEngine = (s: DrainSystem): boolean => s.startsWith('engine');
export const sectionOf = (s: DrainSystem): DrainSection =>
  s === 'engine-posts' || s === 'engine-tasks' || s === 'pg-boss' || s === 'graphile-worker' ? 'cap-less' : 'same-job';

export function drainConfigs(): DrainConfig[] {
  const configs: DrainConfig[] = [];
  for (const drainers of [1, 2]) {
    for (const system of ['engine-dm', 'pg-boss-dm'] as const)
      for (const batch of [100, 500]) configs.push({ system, batch, drainers });
    configs.push({ system: 'graphile-dm', batch: 1, drainers });
    for (const system of ['plain-sql', 'floor-dm'] as const)
      for (const batch of [100, 500]) configs.push({ system, batch, drainers });
    for (const system of ['engine-tasks', 'engine-posts', 'pg-boss'] as const)
      for (const batch of [100, 500]) configs.push({ system, batch, drainers });
    configs.push({ system: 'graphile-worker', batch: 500, drainers });
  }
  return configs;
}

const NAMES: Record<DrainSystem, string> = {
  'engine-dm': 'engine DM queue',
  'pg-boss-dm': 'pg-boss DM job',
  'graphile-dm': 'graphile-worker DM job (queue per account, concurrency 10)',
  'plain-sql': 'plain SQL, two columns',
  'floor-dm': 'plain SQL, dm_queue shape',
  'engine-posts': 'engine post queue (no cap)',
  'engine-tasks': 'engine task queue (generic, no account)',
  'pg-boss': 'pg-boss no-op',
  'graphile-worker': 'graphile-worker no-op (local queue 500, batch delay 0)',
};

export function labelOf(c: DrainConfig): string {
  const batch = c.system.startsWith('graphile') ? '' : `, batch ${c.batch}`;
  return `${NAMES[c.system]}${batch}, ${c.drainers} drainer${c.drainers > 1 ? 's' : ''}`;
}

/** Every system's tables (engine, floors, pg-boss's and graphile-worker's schemas) vacuumed and analyzed. */
async function vacuumAll(sql: postgres.Sql): Promise<void> {
  await sql.unsafe('vacuum analyze');
}

/**
 * Drain throughput: N due items per run for every configuration, all systems in one database on the same server, in
 * interleaved rounds (round 1 runs every configuration once, then round 2, …) so a noisy neighbour spreads over all.
 * Before each run: its items are inserted, then the whole database is vacuumed and analyzed (autovacuum may be off),
 * then its window (clock, CPU, transaction count) starts.
 */
export async function benchDrain(n: number, runs: number, progress: (line: string) => void): Promise<DrainResult[]> {
  const { url, db } = await createMigratedDatabase('drain');
  await db.close();
  const sql = rawSql(url, 1);
  const dbName = new URL(url).pathname.slice(1);
  const expected = expectedSends(n);
  try {
    const [me] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`;
    const adminPid = new Set([String(me?.pid)]);
    await setupEngine(sql);
    await setupFloor(sql);
    await setupFloorDm(sql);
    await setupPeerAccounts(sql);
    await setupPeerRecord(sql, pgBossDmPrefix);
    await setupPeerRecord(sql, graphileDmPrefix);
    await setupPgBoss(url);
    await setupPgBossDm(url);
    await setupGraphile(url);
    progress(
      `  DM job: ${n} DMs over 200 accounts in 6 zones; every 10th account's cap (5) is below its share, so ${expected} are sent and ${n - expected} wait for the next local day`,
    );

    const configs = drainConfigs();
    const samples = configs.map(() => ({
      ms: [] as number[],
      xacts: [] as number[],
      invocations: [] as number[],
      serverCpu: [] as number[],
      clientCpu: [] as number[],
      startMs: [] as number[],
      breaches: 0,
      sent: 0,
      last: undefined as EngineRun | undefined,
    }));
    for (let round = 1; round <= runs; round++) {
      for (const [i, c] of configs.entries()) {
        const s = samples[i]!;
        await seed(c, sql, url, n);
        await vacuumAll(sql);
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
        let ms: number;
        let peerSends = 0;
        const send = () => {
          peerSends++;
        };
        switch (c.system) {
          case 'engine-dm': {
            const r = await runEngine(url, n, c.batch, c.drainers, window);
            const rec = await engineRecord(sql);
            if (rec.sent !== expected || r.sent !== expected || rec.expected !== expected)
              throw new Error(`engine sent ${rec.sent} (provider saw ${r.sent}) of the ${expected} the caps allow`);
            s.breaches = Math.max(s.breaches, rec.breaches);
            s.sent = rec.sent;
            ms = r.ms;
            s.last = r;
            s.invocations.push(r.invocations);
            break;
          }
          case 'engine-posts': {
            const r = await runEngine(url, n, c.batch, c.drainers, window, enginePostJob);
            const rec = await engineRecord(sql);
            if (rec.published !== n || r.sent !== n) throw new Error(`engine published ${rec.published} of ${n}`);
            ms = r.ms;
            s.last = r;
            s.invocations.push(r.invocations);
            break;
          }
          case 'engine-tasks': {
            const r = await runEngine(url, n, c.batch, c.drainers, window, engineTaskJob);
            const done = await tasksDone(sql);
            if (done !== n) throw new Error(`engine task queue did ${done} of ${n}`);
            ms = r.ms;
            s.last = r;
            s.invocations.push(r.invocations);
            break;
          }
          case 'pg-boss-dm':
          case 'graphile-dm': {
            const prefix = c.system === 'pg-boss-dm' ? pgBossDmPrefix : graphileDmPrefix;
            const r =
              c.system === 'pg-boss-dm'
                ? await runPgBossDm(url, sql, c.batch, c.drainers, window, send)
                : await runGraphileDm(url, sql, n, c.drainers, window, send);
            const rec = await peerCapBreaches(sql, prefix);
            if (rec.sent !== expected || peerSends !== expected || r.deferred !== n - expected)
              throw new Error(
                `${c.system} sent ${rec.sent} (provider saw ${peerSends}), deferred ${r.deferred}; the caps allow ${expected} of ${n}`,
              );
            s.breaches = Math.max(s.breaches, rec.breaches);
            s.sent = rec.sent;
            if (r.startMs) s.startMs.push(r.startMs);
            ms = r.ms;
            break;
          }
          case 'pg-boss':
            ms = await runPgBoss(url, n, c.batch, c.drainers, window);
            break;
          case 'graphile-worker': {
            const r = await runGraphile(url, sql, n, c.drainers, window);
            s.startMs.push(r.startMs);
            ms = r.ms;
            break;
          }
          case 'plain-sql':
            ms = await runFloor(url, n, c.batch, c.drainers, window);
            break;
          case 'floor-dm':
            ms = await runFloorDm(url, n, c.batch, c.drainers, window);
            break;
        }
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
        section: sectionOf(c.system),
        label: labelOf(c),
        perSec: spread(s.ms.map((ms) => (n / ms) * 1000)),
        ms: spread(s.ms),
        xactsPer1000: spread(s.xacts),
        serverCpuMsPer1000: spread(s.serverCpu),
        clientCpuMsPer1000: spread(s.clientCpu),
      };
      if (c.system === 'engine-dm' || c.system === 'pg-boss-dm' || c.system === 'graphile-dm') {
        result.capBreaches = s.breaches;
        result.sent = s.sent;
      }
      if (s.startMs.length) result.startMs = spread(s.startMs).median;
      if (s.last) {
        result.roundTripsPer1000 = sumCalls(s.last.stats) / (n / 1000);
        result.callStats = s.last.stats;
        result.invocations = spread(s.invocations);
      }
      return result;
    });
  } finally {
    await sql.end();
  }
}

async function seed(c: DrainConfig, sql: postgres.Sql, url: string, n: number): Promise<void> {
  switch (c.system) {
    case 'engine-dm':
      return seedEngine(sql, n);
    case 'engine-posts':
      return seedEnginePosts(sql, n);
    case 'engine-tasks':
      return seedEngineTasks(sql, n);
    case 'pg-boss-dm':
      await resetPeerRecord(sql, pgBossDmPrefix);
      return seedPgBossDm(url, n);
    case 'graphile-dm':
      await resetPeerRecord(sql, graphileDmPrefix);
      return seedGraphileDm(sql, n);
    case 'pg-boss':
      return seedPgBoss(url, n);
    case 'graphile-worker':
      return seedGraphile(sql, n);
    case 'plain-sql':
      return seedFloor(sql, n);
    case 'floor-dm':
      return seedFloorDm(sql, n);
  }
}

function sumCalls(stats: Map<string, CallStats>): number {
  return [...stats.values()].reduce((t, s) => t + s.calls, 0);
}

const best = (rs: DrainResult[]) => rs.reduce((a, b) => (b.perSec.median > a.perSec.median ? b : a));

/** Same job: the engine's best median over the best peer's (pg-boss or graphile-worker running the DM job). */
export function sameJobRatio(results: DrainResult[]): { engine: DrainResult; peer: DrainResult; ratio: number } {
  const engine = best(results.filter((r) => r.system === 'engine-dm'));
  const peer = best(results.filter((r) => r.system === 'pg-boss-dm' || r.system === 'graphile-dm'));
  return { engine, peer, ratio: engine.perSec.median / peer.perSec.median };
}

/** The headline: the same-job ratio. */
export const headlineRatio = sameJobRatio;

/**
 * Cap-less, per cell (batch × drainers): the engine's generic task queue over the best peer in that cell (pg-boss at the same
 * batch, graphile-worker with the same drainers: it has no batch size). The figure is the worst cell.
 */
export function capLessCells(results: DrainResult[]): { engine: DrainResult; peer: DrainResult; ratio: number }[] {
  return results
    .filter((r) => r.system === 'engine-tasks')
    .flatMap((engine) => {
      const peers = results.filter(
        (p) =>
          (p.system === 'pg-boss' && p.batch === engine.batch && p.drainers === engine.drainers) ||
          (p.system === 'graphile-worker' && p.drainers === engine.drainers),
      );
      if (peers.length === 0) return [];
      const peer = best(peers);
      return [{ engine, peer, ratio: engine.perSec.median / peer.perSec.median }];
    });
}

/** Engine DM queue over a floor at the same batch size and drainers (medians). */
export function floorRatios(
  drain: DrainResult[],
  floor: 'plain-sql' | 'floor-dm',
): { engine: DrainResult; floor: DrainResult; ratio: number }[] {
  return drain
    .filter((r) => r.system === 'engine-dm')
    .flatMap((engine) => {
      const f = drain.find((x) => x.system === floor && x.batch === engine.batch && x.drainers === engine.drainers);
      return f ? [{ engine, floor: f, ratio: engine.perSec.median / f.perSec.median }] : [];
    });
}
