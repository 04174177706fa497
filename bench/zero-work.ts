import { dmQueue } from '../jobs/dm-queue.ts';
import { runJob } from '../lib/cron/run.ts';
import { openPostgres } from '../lib/db/postgres.ts';
import { setProvider } from '../lib/providers/index.ts';
import { countingDb } from './counting-db.ts';
import { zeroLatencyProvider } from './drain-engine.ts';
import { createMigratedDatabase, dropDatabase } from './pg.ts';
import { now, type Spread, spread } from './stats.ts';

/** Idle calls timed after the counted one. */
const TIMED_CALLS = 30;

export interface ZeroWorkResult {
  roundTrips: number;
  /** The calls, in the order of first use, with their counts. */
  calls: { name: string; calls: number }[];
  /** Wall time of one idle runJob(dmQueue) in the function (ms), over TIMED_CALLS calls. */
  functionMs: Spread;
  /** job_runs rows the job has after all those calls (consecutive zero-work calls share one). */
  historyRows: number;
  /** How many calls the latest row records. */
  rowCalls: number;
}

/**
 * Database round trips of one runJob(dmQueue) with nothing due — what every cron tick costs an idle queue — then the
 * time such a call takes in the function and the history rows they leave. The connection is opened and used once
 * before (a warm instance); the port's one-time type lookups happen then.
 */
export async function benchZeroWork(): Promise<ZeroWorkResult> {
  const { url, db: setupDb } = await createMigratedDatabase('zero');
  await setupDb.close();
  setProvider(zeroLatencyProvider());
  const db = countingDb(openPostgres(url, { max: 2 }));
  try {
    await runJob(dmQueue, { db, trigger: 'cron', budgetMs: 55_000 }); // warms the connection and the type lookups
    db.reset();
    const summary = await runJob(dmQueue, { db, trigger: 'cron', budgetMs: 55_000 });
    if (summary.status === 'error') throw new Error(`the idle run failed: ${summary.error}`);
    const roundTrips = db.roundTrips();
    const calls = [...db.stats].map(([name, s]) => ({ name, calls: s.calls }));
    const times: number[] = [];
    for (let i = 0; i < TIMED_CALLS; i++) {
      const started = now();
      const s = await runJob(dmQueue, { db, trigger: 'cron', budgetMs: 55_000 });
      times.push(now() - started);
      if (s.status !== 'ok') throw new Error(`idle run ${i} ended ${s.status}: ${s.error ?? s.reason ?? ''}`);
    }
    const rows = await db.query!<{ calls: number }>(
      "select calls from job_runs where job = 'dm-queue' order by started_at desc",
    );
    return {
      roundTrips,
      calls,
      functionMs: spread(times),
      historyRows: rows.length,
      rowCalls: rows[0]?.calls ?? 0,
    };
  } finally {
    await db.close();
    setProvider(undefined);
    await dropDatabase(url);
  }
}

/** `node bench/zero-work.ts`: this section alone. */
if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await benchZeroWork();
  console.log(
    `zero-work: ${r.calls.map((c) => `${c.name} ×${c.calls}`).join(', ')}; function ${r.functionMs.min.toFixed(1)} / ` +
      `${r.functionMs.median.toFixed(1)} / ${r.functionMs.max.toFixed(1)} ms (min / median / max of ${TIMED_CALLS}); ` +
      `${r.historyRows} history row(s), the latest recording ${r.rowCalls} calls`,
  );
  console.log(`zero-work round trips: ${r.roundTrips}`);
}
