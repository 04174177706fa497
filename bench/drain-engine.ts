import type postgres from 'postgres';
import { dmQueue } from '../jobs/dm-queue.ts';
import { RetryableError } from '../lib/cron/errors.ts';
import { runJob } from '../lib/cron/run.ts';
import { openPostgres } from '../lib/db/postgres.ts';
import { setProvider } from '../lib/providers/index.ts';
import type { LinkedInProvider } from '../lib/providers/types.ts';
import { type CallStats, countingDb, mergeStats } from './counting-db.ts';
import type { TimedWindow } from './pg.ts';
import { now } from './stats.ts';

/** Accounts the drain's DMs are spread over; each one's cap (1,000, the maximum) is far above its share. */
export const DRAIN_ACCOUNTS = 200;
/** The provider answers at once, so the drain loop and the SQL are all that is measured; 100 is the maximum. */
export const ENGINE_CONCURRENCY = 100;

/** A provider with zero latency: the DM queue's throughput is then the claim/settle path's. */
export function zeroLatencyProvider(timeoutMs = 10_000): LinkedInProvider & { sends: () => number } {
  let n = 0;
  return {
    name: 'bench-zero-latency',
    timeoutMs,
    sends: () => n,
    sendMessage: () => {
      n++;
      return Promise.resolve({ chatId: `chat-${n}`, messageId: `msg-${n}` });
    },
    publishPost: () => Promise.resolve({ postId: `post-${++n}` }),
    findSentMessage: () => Promise.resolve(null),
    listRelations: () => Promise.reject(new RetryableError('not used by the bench')),
    sendInvitation: () => Promise.reject(new RetryableError('not used by the bench')),
  };
}

export async function setupEngine(sql: postgres.Sql): Promise<void> {
  await sql.unsafe(
    `insert into accounts (name, dm_daily_limit, unipile_account_id)
     select 'bench-' || g, 1000, 'prov-' || g from generate_series(1, ${DRAIN_ACCOUNTS}) g`,
  );
}

/** Empties the queue and puts `n` due DMs in it, round-robin over the accounts (not timed). */
export async function seedEngine(sql: postgres.Sql, n: number): Promise<void> {
  await sql.unsafe('truncate dm_queue, job_runs');
  await sql.unsafe('update accounts set dm_checked_at = null, dm_resume_at = null');
  await sql.unsafe(
    `insert into dm_queue (account_id, recipient_id, body, send_at)
     select a.ids[1 + (g % cardinality(a.ids))], 'r-' || g, 'hello ' || g, now() - interval '1 minute'
       from generate_series(1, $1::int) g, (select array_agg(id order by id) as ids from accounts) a`,
    [n],
  );
  await sql.unsafe('vacuum analyze dm_queue');
  await sql.unsafe('vacuum analyze accounts');
}

export interface EngineRun {
  ms: number;
  sent: number;
  invocations: number;
  stats: Map<string, CallStats>;
}

/**
 * `drainers` concurrent workers, each calling runJob(dmQueue) — the real run log, reap, claimDueDms, drain loop and
 * settleDms — again while its last run reported work remaining (what continuation does), each on its own connections.
 */
export async function runEngine(
  url: string,
  n: number,
  batch: number,
  drainers: number,
  window: TimedWindow,
): Promise<EngineRun> {
  process.env.DM_BATCH_SIZE = String(batch);
  process.env.DM_CONCURRENCY = String(ENGINE_CONCURRENCY);
  const provider = zeroLatencyProvider();
  setProvider(provider);
  const dbs = Array.from({ length: drainers }, () => countingDb(openPostgres(url, { max: 2 })));
  // Connect outside the timed window, as a warm function instance would be.
  await Promise.all(dbs.map((db) => db.query!('select 1')));
  for (const db of dbs) db.reset();
  let invocations = 0;
  try {
    await window.start();
    const started = now();
    await Promise.all(
      dbs.map(async (db) => {
        for (let i = 0; i < 1000; i++) {
          const summary = await runJob(dmQueue, { db, trigger: 'manual', budgetMs: 600_000, limit: n });
          invocations++;
          if (summary.status === 'error') throw new Error(`engine run failed: ${summary.error}`);
          if (summary.remaining === 0) break;
        }
      }),
    );
    const ms = now() - started;
    window.end();
    const stats = new Map<string, CallStats>();
    for (const db of dbs) mergeStats(stats, db.stats);
    return { ms, sent: provider.sends(), invocations, stats };
  } finally {
    await Promise.all(dbs.map((db) => db.close()));
    setProvider(undefined);
  }
}

export async function countSent(sql: postgres.Sql): Promise<number> {
  const [row] = await sql<{ n: number }[]>`select count(*)::int as n from dm_queue where status = 'sent'`;
  return row?.n ?? 0;
}
