import type postgres from 'postgres';
import { dmQueue } from '../jobs/dm-queue.ts';
import { postScheduler } from '../jobs/post-scheduler.ts';
import { RetryableError } from '../lib/cron/errors.ts';
import type { JobDefinition } from '../lib/cron/job.ts';
import { runJob } from '../lib/cron/run.ts';
import { openPostgres } from '../lib/db/postgres.ts';
import { setProvider } from '../lib/providers/index.ts';
import type { LinkedInProvider } from '../lib/providers/types.ts';
import { defineTaskJob } from '../lib/tasks/task-job.ts';
import { type CallStats, countingDb, mergeStats } from './counting-db.ts';
import { capSql, PEER_ACCOUNTS, zoneSql } from './peers/dm-cap.ts';
import type { TimedWindow } from './pg.ts';
import { now } from './stats.ts';

/** Accounts the drain's items are spread over: the peers' DM job has the same number, zones and caps. */
export const DRAIN_ACCOUNTS = PEER_ACCOUNTS;
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

/** The accounts: the g-th gets the peers' g-th zone and cap (every 10th: 5 DMs a day, below its share). */
export async function setupEngine(sql: postgres.Sql): Promise<void> {
  await sql.unsafe(
    `insert into accounts (name, timezone, dm_daily_limit, unipile_account_id)
     select 'bench-' || g, ${zoneSql('g')}, ${capSql('g')}, 'prov-' || g from generate_series(1, ${DRAIN_ACCOUNTS}) g`,
  );
}

/** Empties the queue and puts `n` due DMs in it, dm g for the account named bench-(1 + g % accounts) (not timed). */
export async function seedEngine(sql: postgres.Sql, n: number): Promise<void> {
  await sql.unsafe('truncate dm_queue, job_runs cascade');
  await sql.unsafe('update accounts set dm_resume_at = null');
  await sql.unsafe(
    `insert into dm_queue (account_id, recipient_id, body, send_at)
     select a.id, 'r-' || g, 'hello ' || g, now() - interval '1 minute'
       from generate_series(1, $1::int) g join accounts a on a.name = 'bench-' || (1 + g % ${DRAIN_ACCOUNTS})`,
    [n],
  );
}

/** Cap-less: `n` due posts over the same accounts (the post queue is queue_define's template with no cap). */
export async function seedEnginePosts(sql: postgres.Sql, n: number): Promise<void> {
  await sql.unsafe('truncate posts, job_runs cascade');
  await sql.unsafe('update accounts set post_resume_at = null');
  await sql.unsafe(
    `insert into posts (account_id, content, status, scheduled_for)
     select a.id, 'post ' || g, 'scheduled', now() - interval '1 minute'
       from generate_series(1, $1::int) g join accounts a on a.name = 'bench-' || (1 + g % ${DRAIN_ACCOUNTS})`,
    [n],
  );
}

/** Cap-less core: the generic task queue (tasks table, no account), a no-op handler. */
export const engineTaskJob = defineTaskJob({
  name: 'bench-noop',
  schedule: '* * * * *',
  maxDuration: 300,
  settingsPrefix: 'TASK',
  handler: () => Promise.resolve(undefined),
});

/** `n` due no-op tasks in the bench's task queue. */
export async function seedEngineTasks(sql: postgres.Sql, n: number): Promise<void> {
  await sql.unsafe('truncate tasks, job_runs cascade');
  await sql.unsafe(
    `insert into tasks (queue, payload, run_at)
     select 'bench-noop', jsonb_build_object('n', g), now() - interval '1 minute' from generate_series(1, $1::int) g`,
    [n],
  );
}

export async function tasksDone(sql: postgres.Sql): Promise<number> {
  const [row] = await sql<{ n: number }[]>`select count(*)::int as n from tasks where status = 'done'`;
  return row?.n ?? -1;
}

export interface EngineRun {
  ms: number;
  sent: number;
  invocations: number;
  stats: Map<string, CallStats>;
}

/**
 * `drainers` concurrent workers, each calling runJob(job) — the real run log, reap, claim, drain loop and settle —
 * again while its last run reported work remaining (what continuation does), each on its own connections.
 */
export async function runEngine(
  url: string,
  n: number,
  batch: number,
  drainers: number,
  window: TimedWindow,
  job: JobDefinition = dmQueue,
): Promise<EngineRun> {
  const prefix = job === postScheduler ? 'POST' : job === engineTaskJob ? 'TASK' : 'DM';
  process.env[`${prefix}_BATCH_SIZE`] = String(batch);
  process.env[`${prefix}_CONCURRENCY`] = String(ENGINE_CONCURRENCY);
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
          const summary = await runJob(job, { db, trigger: 'manual', budgetMs: 600_000, limit: n });
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

export const enginePostJob = postScheduler;

/** What the engine's own record says: DMs sent, those over a cap per account and local day, and posts published. */
export async function engineRecord(
  sql: postgres.Sql,
): Promise<{ sent: number; breaches: number; expected: number; published: number }> {
  const [row] = await sql<{ sent: number; breaches: number; expected: number; published: number }[]>`
    select (select count(*) from dm_queue where status = 'sent')::int as sent,
           (select count(*) from (
              select d.account_id from dm_queue d join accounts a on a.id = d.account_id
               where d.status in ('sent', 'sending', 'uncertain')
               group by d.account_id, (coalesce(d.attempted_at, d.sent_at) at time zone a.timezone)::date, a.dm_daily_limit
              having count(*) > a.dm_daily_limit) b)::int as breaches,
           (select coalesce(sum(least(c.n, a.dm_daily_limit)), 0) from accounts a
              join (select account_id, count(*) as n from dm_queue group by 1) c on c.account_id = a.id)::int as expected,
           (select count(*) from posts where status = 'published')::int as published`;
  return row ?? { sent: -1, breaches: -1, expected: -1, published: -1 };
}
