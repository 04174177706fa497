import pLimit from 'p-limit';
import { PgBoss } from 'pg-boss';
import type postgres from 'postgres';
import type { TimedWindow } from '../pg.ts';
import { now, sleep } from '../stats.ts';
import { type CapDecision, capStatement, PEER_ACCOUNTS } from './dm-cap.ts';
import type { PeerDmRun } from './graphile-dm.ts';

/**
 * The DM job on pg-boss 12, the way its documentation has a user do it (pages relied on: https://pgboss.io/api/workers
 * — linked from pg-boss's own typings for work()/fetch() options — the JSDoc of `WorkConcurrencyOptions`,
 * `FetchGroupConcurrencyOptions` and `JobInsert` in pg-boss/dist/types.d.ts, and the 12.38.1 release notes,
 * https://github.com/timgit/pg-boss/releases/tag/12.38.1):
 *
 * - one job per DM in one queue (`createQueue`), each inserted with `group: { id: <account> }`;
 * - workers take batches with `fetch(name, { batchSize, groupConcurrency: 1 })` — "Limit concurrent jobs per group
 *   globally across all nodes (database tracking)" — so one account has one DM in flight at a time and cannot take a
 *   whole batch;
 * - each job checks and counts the account's cap for its local day in one statement of its own (the record of the
 *   send is written there, so a job retried after a crash is not sent again), then sends; the batch is completed with
 *   `complete(name, ids)`; DMs over the cap are inserted again with `startAfter` = the account's next local midnight
 *   before their job completes.
 *
 * 12.38.0 (installed) can exceed groupConcurrency when fetches race (fixed in 12.38.1, per its release notes); the
 * cap does not depend on it: the counter statement is exact under concurrency.
 */

export const PGBOSS_DM_QUEUE = 'bench_dm';
/** Jobs of one fetched batch checked at once (each on its own pooled connection). */
export const PGBOSS_DM_PARALLEL = 8;
const PREFIX = 'boss_dm';
export const pgBossDmPrefix = PREFIX;

function newBoss(url: string, max: number): PgBoss {
  const boss = new PgBoss({ connectionString: url, max, supervise: false, schedule: false, registerInstance: false });
  boss.on('error', (e) => console.error('[pg-boss]', e));
  return boss;
}

export async function setupPgBossDm(url: string): Promise<void> {
  const boss = newBoss(url, 2);
  await boss.start();
  await boss.createQueue(PGBOSS_DM_QUEUE);
  await boss.stop({ graceful: false });
}

export async function seedPgBossDm(url: string, n: number): Promise<void> {
  const boss = newBoss(url, 2);
  await boss.start();
  try {
    await boss.deleteAllJobs(PGBOSS_DM_QUEUE);
    for (let i = 1; i <= n; i += 5000) {
      const jobs = Array.from({ length: Math.min(5000, n - i + 1) }, (_, k) => {
        const dm = i + k;
        const account = 1 + (dm % PEER_ACCOUNTS);
        return { data: { dm, account }, group: { id: `account-${account}` } };
      });
      await boss.insert(PGBOSS_DM_QUEUE, jobs);
    }
  } finally {
    await boss.stop({ graceful: false });
  }
}

/**
 * `drainers` pg-boss instances, each looping fetch → cap check + send per job → re-queue the DMs over the cap →
 * complete, until no job of the queue is due or active. An empty fetch while other drainers hold every group's
 * job is not the end (groupConcurrency): the drainer looks again.
 */
export async function runPgBossDm(
  url: string,
  sql: postgres.Sql,
  batch: number,
  drainers: number,
  window: TimedWindow,
  send: () => void,
): Promise<PeerDmRun> {
  const bosses = Array.from({ length: drainers }, () => newBoss(url, PGBOSS_DM_PARALLEL + 2));
  await Promise.all(bosses.map((b) => b.start()));
  const statement = capStatement(PREFIX);
  let sent = 0;
  let deferred = 0;
  try {
    await window.start();
    const started = now();
    await Promise.all(
      bosses.map(async (boss) => {
        const db = boss.getDb();
        const limit = pLimit(PGBOSS_DM_PARALLEL);
        for (;;) {
          const jobs = await boss.fetch<{ dm: number; account: number }>(PGBOSS_DM_QUEUE, {
            batchSize: batch,
            groupConcurrency: 1,
          });
          if (jobs.length === 0) {
            const [left] = await sql<{ n: number }[]>`
              select count(*)::int as n from pgboss.job
               where name = ${PGBOSS_DM_QUEUE} and (state = 'active' or (state in ('created', 'retry') and start_after <= now()))`;
            if (!left?.n) break;
            await sleep(1);
            continue;
          }
          const over: typeof jobs = [];
          const resume = new Map<string, Date>();
          await Promise.all(
            jobs.map((job) =>
              limit(async () => {
                const { rows } = await db.executeSql(statement, [job.data.dm, job.data.account]);
                const d = rows[0] as CapDecision | undefined;
                if (!d || d.already) return;
                if (d.sent === 1) {
                  send();
                  sent++;
                } else {
                  over.push(job);
                  resume.set(job.id, new Date(d.resume_at));
                }
              }),
            ),
          );
          if (over.length > 0) {
            await boss.insert(
              PGBOSS_DM_QUEUE,
              over.map((j) => ({
                data: j.data,
                startAfter: resume.get(j.id)!,
                group: { id: `account-${j.data.account}` },
              })),
            );
            deferred += over.length;
          }
          await boss.complete(
            PGBOSS_DM_QUEUE,
            jobs.map((j) => j.id),
          );
        }
      }),
    );
    const ms = now() - started;
    window.end();
    return { ms, sent, deferred, startMs: 0 };
  } finally {
    await Promise.all(bosses.map((b) => b.stop({ graceful: false })));
  }
}
