import { type Logger as GraphileLogger, Logger, run, runMigrations } from 'graphile-worker';
import { PgBoss } from 'pg-boss';
import type postgres from 'postgres';
import { DRAIN_ACCOUNTS } from './drain-engine.ts';
import { rawSql, type TimedWindow } from './pg.ts';
import { now, sleep } from './stats.ts';

/** The peers on the same server: pg-boss (fetch/complete loop), graphile-worker (batched mode), plain SQL (floor). */

const BOSS_QUEUE = 'bench';
/** Jobs run at once per graphile-worker pool; no-op tasks, so this mostly sets how fast the local queue is served. */
export const GRAPHILE_CONCURRENCY = 10;
export const GRAPHILE_LOCAL_QUEUE = 500;

const quietLogger: GraphileLogger = new Logger(() => (level, message) => {
  if (level === 'error') console.error(`[graphile-worker] ${message}`);
});

function newBoss(url: string, max: number): PgBoss {
  const boss = new PgBoss({ connectionString: url, max, supervise: false, schedule: false, registerInstance: false });
  boss.on('error', (e) => console.error('[pg-boss]', e));
  return boss;
}

// ---- pg-boss ----

export async function setupPgBoss(url: string): Promise<void> {
  const boss = newBoss(url, 2);
  await boss.start();
  await boss.createQueue(BOSS_QUEUE);
  await boss.stop({ graceful: false });
}

export async function seedPgBoss(url: string, n: number): Promise<void> {
  const boss = newBoss(url, 2);
  await boss.start();
  try {
    await boss.deleteAllJobs(BOSS_QUEUE);
    for (let i = 0; i < n; i += 5000) {
      const jobs = Array.from({ length: Math.min(5000, n - i) }, (_, k) => ({ data: { i: i + k } }));
      await boss.insert(BOSS_QUEUE, jobs);
    }
  } finally {
    await boss.stop({ graceful: false });
  }
}

/** `drainers` pg-boss instances, each looping fetch(batchSize) → complete(ids) until the queue is empty. */
export async function runPgBoss(
  url: string,
  n: number,
  batch: number,
  drainers: number,
  window: TimedWindow,
): Promise<number> {
  const bosses = Array.from({ length: drainers }, () => newBoss(url, 2));
  await Promise.all(bosses.map((b) => b.start()));
  let done = 0;
  try {
    await window.start();
    const started = now();
    await Promise.all(
      bosses.map(async (boss) => {
        for (;;) {
          const jobs = await boss.fetch(BOSS_QUEUE, { batchSize: batch });
          if (jobs.length === 0) break;
          await boss.complete(
            BOSS_QUEUE,
            jobs.map((j) => j.id),
          );
          done += jobs.length;
        }
      }),
    );
    const ms = now() - started;
    window.end();
    if (done !== n) throw new Error(`pg-boss completed ${done} of ${n}`);
    return ms;
  } finally {
    await Promise.all(bosses.map((b) => b.stop({ graceful: false })));
  }
}

// ---- graphile-worker ----

export async function setupGraphile(url: string): Promise<void> {
  await runMigrations({ connectionString: url, logger: quietLogger });
}

/** n no-op jobs, added in one statement before the runners start (not timed). */
export async function seedGraphile(sql: postgres.Sql, n: number): Promise<void> {
  await sql.unsafe('delete from graphile_worker._private_jobs');
  await sql.unsafe(
    `select count(*) from graphile_worker.add_jobs(array(
       select row('noop', json_build_object('i', g), null, null, null, null, null, null)::graphile_worker.job_spec
         from generate_series(1, $1::int) g))`,
    [n],
  );
}

/**
 * `drainers` graphile-worker runners in batched mode (local queue 500, completeJobBatchDelay 0, no-op task), started
 * after the jobs were added: the clock runs from just before they start (their start-up is inside it, reported as
 * startMs) until every job is gone from the table (completed and flushed).
 */
export async function runGraphile(
  url: string,
  sql: postgres.Sql,
  n: number,
  drainers: number,
  window: TimedWindow,
): Promise<{ ms: number; startMs: number }> {
  let executed = 0;
  await window.start();
  const started = now();
  const runners = await Promise.all(
    Array.from({ length: drainers }, () =>
      run({
        connectionString: url,
        concurrency: GRAPHILE_CONCURRENCY,
        maxPoolSize: 4,
        noHandleSignals: true,
        logger: quietLogger,
        taskList: {
          noop: async () => {
            executed++;
          },
        },
        preset: { worker: { localQueue: { size: GRAPHILE_LOCAL_QUEUE }, completeJobBatchDelay: 0 } },
      }),
    ),
  );
  const startMs = now() - started;
  try {
    for (;;) {
      if (executed >= n) {
        const [row] = await sql<{ n: number }[]>`select count(*)::int as n from graphile_worker._private_jobs`;
        if (row?.n === 0) break;
      }
      await sleep(2);
    }
    const ms = now() - started;
    window.end();
    return { ms, startMs };
  } finally {
    await Promise.all(runners.map((r) => r.stop()));
  }
}

// ---- plain SQL: the floor ----

export async function setupFloor(sql: postgres.Sql): Promise<void> {
  await sql.unsafe(`
    create table bench_floor (
      id integer generated always as identity primary key,
      payload text not null,
      status text not null default 'pending',
      locked_at timestamptz,
      done_at timestamptz
    );
    create index bench_floor_pending on bench_floor (id) where status = 'pending';
  `);
}

export async function seedFloor(sql: postgres.Sql, n: number): Promise<void> {
  await sql.unsafe('truncate bench_floor restart identity');
  await sql.unsafe(`insert into bench_floor (payload) select 'hello ' || g from generate_series(1, $1::int) g`, [n]);
}

/** One UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED LIMIT B) RETURNING, then one bulk completion, per batch. */
export async function runFloor(
  url: string,
  n: number,
  batch: number,
  drainers: number,
  window: TimedWindow,
): Promise<number> {
  const clients = Array.from({ length: drainers }, () => rawSql(url, 1));
  await Promise.all(clients.map((c) => c`select 1`));
  let done = 0;
  try {
    await window.start();
    const started = now();
    await Promise.all(
      clients.map(async (c) => {
        for (;;) {
          const rows = await c<{ id: number; payload: string }[]>`
            update bench_floor f set status = 'running', locked_at = now()
             where f.id in (select id from bench_floor where status = 'pending' order by id limit ${batch}
                            for update skip locked)
            returning f.id, f.payload`;
          if (rows.length === 0) break;
          const ids = rows.map((r) => r.id);
          await c`update bench_floor set status = 'done', done_at = now() where id = any(${ids}::int[])`;
          done += rows.length;
        }
      }),
    );
    const ms = now() - started;
    window.end();
    if (done !== n) throw new Error(`plain SQL completed ${done} of ${n}`);
    return ms;
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
}

// ---- plain SQL on dm_queue's own shape: the second floor ----

/**
 * A copy of dm_queue (same columns, defaults, generated due_at, CHECKs and every index; no triggers, no foreign key),
 * drained by the plainest claim and completion: UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED LIMIT B) to
 * 'sending' with a lease, then one UPDATE to 'sent'. What the engine's claim/settle costs over this is the price of
 * caps, fairness and the state machine; the two-column floor above also leaves out the row width and the indexes.
 */
export async function setupFloorDm(sql: postgres.Sql): Promise<void> {
  await sql.unsafe('create table floor_dm (like dm_queue including all)');
}

export async function seedFloorDm(sql: postgres.Sql, n: number): Promise<void> {
  await sql.unsafe('truncate floor_dm');
  await sql.unsafe(
    `insert into floor_dm (account_id, recipient_id, body, send_at)
     select a.id, 'r-' || g, 'hello ' || g, now() - interval '1 minute'
       from generate_series(1, $1::int) g join accounts a on a.name = 'bench-' || (1 + g % ${DRAIN_ACCOUNTS})`,
    [n],
  );
}

export async function runFloorDm(
  url: string,
  n: number,
  batch: number,
  drainers: number,
  window: TimedWindow,
): Promise<number> {
  const clients = Array.from({ length: drainers }, () => rawSql(url, 1));
  await Promise.all(clients.map((c) => c`select 1`));
  let done = 0;
  try {
    await window.start();
    const started = now();
    await Promise.all(
      clients.map(async (c) => {
        const runId = crypto.randomUUID();
        for (;;) {
          const rows = await c<{ id: string }[]>`
            update floor_dm f
               set status = 'sending', attempts = f.attempts + 1, attempted_at = now(),
                   lease_until = now() + interval '90 seconds', run_id = ${runId}
             where f.id in (select id from floor_dm where status = 'pending' and due_at <= now()
                            limit ${batch} for update skip locked)
            returning f.id, f.account_id, f.recipient_id, f.body, f.attempts`;
          if (rows.length === 0) break;
          const ids = rows.map((r) => r.id);
          await c`update floor_dm set status = 'sent', sent_at = now(), lease_until = null,
                         provider_message_id = 'm-' || id, provider_chat_id = 'c'
                   where id = any(${ids}::uuid[]) and run_id = ${runId}`;
          done += rows.length;
        }
      }),
    );
    const ms = now() - started;
    window.end();
    if (done !== n) throw new Error(`dm_queue-shape floor completed ${done} of ${n}`);
    return ms;
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
}
