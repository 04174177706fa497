import { dmQueue } from '../jobs/dm-queue.ts';
import { runJob } from '../lib/cron/run.ts';
import { openPostgres } from '../lib/db/postgres.ts';
import { setProvider } from '../lib/providers/index.ts';
import { countingDb } from './counting-db.ts';
import { zeroLatencyProvider } from './drain-engine.ts';
import { createMigratedDatabase } from './pg.ts';

export interface ZeroWorkResult {
  roundTrips: number;
  /** The calls, in the order of first use, with their counts. */
  calls: { name: string; calls: number }[];
}

/**
 * Database round trips of one runJob(dmQueue) with nothing due — what every cron tick costs an idle queue. The
 * connection is opened and used once before (a warm instance); the port's one-time type lookups happen then.
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
    return {
      roundTrips: db.roundTrips(),
      calls: [...db.stats].map(([name, s]) => ({ name, calls: s.calls })),
    };
  } finally {
    await db.close();
    setProvider(undefined);
  }
}
