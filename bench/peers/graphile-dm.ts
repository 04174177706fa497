import { type Logger as GraphileLogger, Logger, run } from 'graphile-worker';
import type postgres from 'postgres';
import type { TimedWindow } from '../pg.ts';
import { now, sleep } from '../stats.ts';
import { type CapDecision, capStatement, PEER_ACCOUNTS } from './dm-cap.ts';

/**
 * The DM job on graphile-worker 0.18, the way its documentation has a user do it (pages relied on: "addJob()",
 * https://worker.graphile.org/docs/library/add-job; the `JobHelpers` JSDoc in graphile-worker/dist/interfaces.d.ts;
 * graphile/worker#621):
 *
 * - one job per DM, added in one statement with `graphile_worker.add_jobs` (the SQL counterpart of addJob; job_spec:
 *   identifier, payload, queue_name, run_at, …);
 * - a named queue per account: "if you want certain jobs to run one at a time, add them to the same named queue"
 *   (`queueName`), so an account's DMs go out one at a time and a busy account cannot take every worker;
 * - the task checks and counts the account's cap for its local day in one statement through `helpers.query` ("a
 *   shorthand for running an SQL query within the job"), which also records the send (a retried job finds its record
 *   and is not sent again), then sends; over the cap it re-adds the DM with `helpers.addJob(…, { queueName, runAt:
 *   the account's next local midnight })` and completes;
 * - no `localQueue`: with it, jobs of one named queue run concurrently (graphile/worker#621), which breaks the "one
 *   at a time" that the docs promise and this job relies on for fairness.
 */

export const GRAPHILE_DM_CONCURRENCY = 10;
const PREFIX = 'gw_dm';
const TASK = 'send_dm';

const quietLogger: GraphileLogger = new Logger(() => (level, message) => {
  if (level === 'error') console.error(`[graphile-worker] ${message}`);
});

export const graphileDmPrefix = PREFIX;

/** n DMs, dm g for account 1 + g % accounts, each in its account's named queue (not timed). */
export async function seedGraphileDm(sql: postgres.Sql, n: number): Promise<void> {
  await sql.unsafe('delete from graphile_worker._private_jobs');
  await sql.unsafe('delete from graphile_worker._private_job_queues');
  await sql.unsafe(
    `select count(*) from graphile_worker.add_jobs(array(
       select row('${TASK}', json_build_object('dm', g, 'account', 1 + g % ${PEER_ACCOUNTS}),
                  'account-' || (1 + g % ${PEER_ACCOUNTS}), null, null, null, null, null)::graphile_worker.job_spec
         from generate_series(1, $1::int) g))`,
    [n],
  );
}

export interface PeerDmRun {
  ms: number;
  sent: number;
  deferred: number;
  /** Time for the runners to start (inside ms: the jobs were added before they started). */
  startMs: number;
}

/**
 * `drainers` worker pools started after the jobs were added; the clock runs from just before they start until every
 * due job has been handled (sent, or re-added for the account's next local day) and none is left due or locked.
 */
export async function runGraphileDm(
  url: string,
  sql: postgres.Sql,
  n: number,
  drainers: number,
  window: TimedWindow,
  send: () => void,
): Promise<PeerDmRun> {
  let sent = 0;
  let deferred = 0;
  const statement = capStatement(PREFIX);
  await window.start();
  const started = now();
  const runners = await Promise.all(
    Array.from({ length: drainers }, () =>
      run({
        connectionString: url,
        concurrency: GRAPHILE_DM_CONCURRENCY,
        maxPoolSize: GRAPHILE_DM_CONCURRENCY + 2,
        noHandleSignals: true,
        logger: quietLogger,
        taskList: {
          [TASK]: async (payload, helpers) => {
            const p = payload as { dm: number; account: number };
            const { rows } = await helpers.query<CapDecision>(statement, [p.dm, p.account]);
            const d = rows[0];
            if (!d || d.already) return;
            if (d.sent === 1) {
              send();
              sent++;
              return;
            }
            await helpers.addJob(TASK, p, { queueName: `account-${p.account}`, runAt: d.resume_at });
            deferred++;
          },
        },
      }),
    ),
  );
  const startMs = now() - started;
  const check = sql;
  try {
    for (;;) {
      if (sent + deferred >= n) {
        const [row] = await check<{ n: number }[]>`
          select count(*)::int as n from graphile_worker._private_jobs where run_at <= now() or locked_at is not null`;
        if (row?.n === 0) break;
      }
      await sleep(2);
    }
    const ms = now() - started;
    window.end();
    return { ms, sent, deferred, startMs };
  } finally {
    await Promise.all(runners.map((r) => r.stop()));
  }
}
