import { type Logger as GraphileLogger, Logger, run, runMigrations } from 'graphile-worker';
import { PgBoss } from 'pg-boss';
import type postgres from 'postgres';
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

export async function seedPgBoss(url: string, sql: postgres.Sql, n: number): Promise<void> {
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
  await sql.unsafe('vacuum analyze pgboss.job');
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

/**
 * `drainers` graphile-worker runners in batched mode (local queue 500, completeJobBatchDelay 0, no-op task) are started
 * on an empty queue; then the jobs are added in one transaction and the clock starts just before its commit (the
 * runners are woken by its NOTIFY). It stops when every job is gone from the table (completed and flushed).
 */
export async function runGraphile(
  url: string,
  sql: postgres.Sql,
  n: number,
  drainers: number,
  window: TimedWindow,
): Promise<number> {
  let executed = 0;
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
  try {
    await window.start();
    let started = 0;
    await sql.begin(async (tx) => {
      await tx.unsafe(
        `select count(*) from graphile_worker.add_jobs(array(
           select row('noop', json_build_object('i', g), null, null, null, null, null, null)::graphile_worker.job_spec
             from generate_series(1, $1::int) g))`,
        [n],
      );
      started = now();
    });
    const check = rawSql(url, 1);
    try {
      for (;;) {
        if (executed >= n) {
          const [row] = await check<{ n: number }[]>`select count(*)::int as n from graphile_worker._private_jobs`;
          if (row?.n === 0) break;
        }
        await sleep(2);
      }
      const ms = now() - started;
      window.end();
      return ms;
    } finally {
      await check.end();
    }
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
  await sql.unsafe('vacuum analyze bench_floor');
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
