import type { Db, Row } from '../lib/db/types.ts';
import { now } from './stats.ts';

export interface CallStats {
  calls: number;
  ms: number;
}

export interface CountingDb extends Db {
  /** Round trips by SQL function name (`query` for raw SQL), with the time spent waiting for them. */
  readonly stats: Map<string, CallStats>;
  roundTrips(): number;
  reset(): void;
}

/**
 * Wraps a Db and counts every call that reaches the database (each rpc/query is one round trip on postgres.js),
 * timing each one, so the bench can say how many round trips 1,000 DMs cost and where the time goes.
 */
export function countingDb(inner: Db): CountingDb {
  const stats = new Map<string, CallStats>();
  const record = (name: string, started: number) => {
    const s = stats.get(name) ?? { calls: 0, ms: 0 };
    s.calls++;
    s.ms += now() - started;
    stats.set(name, s);
  };
  const timed = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    const started = now();
    try {
      return await work();
    } finally {
      record(name, started);
    }
  };
  return {
    transport: inner.transport,
    stats,
    rpc: <T = Row>(fn: string, args?: Record<string, unknown>) => timed(fn, () => inner.rpc<T>(fn, args)),
    query: inner.query
      ? <T = Row>(sql: string, params?: unknown[]) => timed('query', () => inner.query!<T>(sql, params))
      : undefined,
    exec: inner.exec ? (script: string) => timed('exec', () => inner.exec!(script)) : undefined,
    transaction: inner.transaction,
    close: () => inner.close(),
    roundTrips: () => [...stats.values()].reduce((n, s) => n + s.calls, 0),
    reset: () => stats.clear(),
  };
}

/** Adds the stats of `from` into `into` (several drainers, one total). */
export function mergeStats(into: Map<string, CallStats>, from: Map<string, CallStats>): void {
  for (const [name, s] of from) {
    const t = into.get(name) ?? { calls: 0, ms: 0 };
    t.calls += s.calls;
    t.ms += s.ms;
    into.set(name, t);
  }
}
