import { expect, test } from 'vitest';
import { z } from 'zod';
import { PermanentError, RetryableError } from '../lib/cron/errors.ts';
import { runJob } from '../lib/cron/run.ts';
import type { Db } from '../lib/db/types.ts';
import { enqueueTask } from '../lib/tasks/queries.ts';
import { defineTaskJob } from '../lib/tasks/task-job.ts';
import { forEachEngine, sql } from './helpers/db.ts';

/** The generic task queue of the core (20261202000400_tasks.sql): tasks of no account, at least once. */

const T0 = new Date('2026-12-02T10:00:00Z');
const seen: { id: string; attempt: number; payload: unknown }[] = [];
let behaviour: (payload: { n: number }) => Promise<unknown> = async () => ({ ok: true });

const digest = defineTaskJob({
  name: 'digest',
  schedule: '* * * * *',
  maxDuration: 60,
  payload: z.object({ n: z.number().int() }),
  handler: async (payload, task) => {
    seen.push({ id: task.id, attempt: task.attempt, payload });
    return behaviour(payload);
  },
});

const run = (db: Db, at: Date, budgetMs = 10_000) => runJob(digest, { db, trigger: 'manual', budgetMs, now: () => at });

async function statuses(db: Db): Promise<Record<string, number>> {
  const rows = await sql<{ status: string; n: number }>(db, 'select status, count(*)::int as n from tasks group by 1');
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

forEachEngine('task queue', (ctx) => {
  const reset = async () => {
    seen.length = 0;
    behaviour = async () => ({ ok: true });
    await sql(ctx.db, 'truncate tasks, job_runs, cron_state cascade');
  };

  test('drains due tasks of its queue only, oldest first; future tasks wait', async () => {
    await reset();
    const a = await enqueueTask(ctx.db, { queue: 'digest', payload: { n: 1 }, runAt: new Date(T0.getTime() - 2000) });
    const b = await enqueueTask(ctx.db, { queue: 'digest', payload: { n: 2 }, runAt: new Date(T0.getTime() - 1000) });
    await enqueueTask(ctx.db, { queue: 'digest', payload: { n: 3 }, runAt: new Date(T0.getTime() + 60_000) });
    await enqueueTask(ctx.db, { queue: 'other', payload: { n: 4 }, runAt: T0 });
    const summary = await run(ctx.db, T0);
    expect(summary).toMatchObject({ status: 'ok', claimed: 2, succeeded: 2, remaining: 0 });
    expect(seen.map((s) => s.id)).toEqual([a, b]);
    expect(await statuses(ctx.db)).toEqual({ done: 2, pending: 2 });
  });

  test('a retryable error backs off (Retry-After honoured), a permanent one fails at once, a bad payload fails alone', async () => {
    await reset();
    const retry = await enqueueTask(ctx.db, { queue: 'digest', payload: { n: 1 }, runAt: T0 });
    const perm = await enqueueTask(ctx.db, { queue: 'digest', payload: { n: 2 }, runAt: T0 });
    const bad = await enqueueTask(ctx.db, { queue: 'digest', payload: { n: 'three' }, runAt: T0 });
    const ok = await enqueueTask(ctx.db, { queue: 'digest', payload: { n: 4 }, runAt: T0 });
    behaviour = async ({ n }) => {
      if (n === 1) throw new RetryableError('busy', { code: 'busy', retryAfterMs: 600_000 });
      if (n === 2) throw new PermanentError('no such report', { code: 'not_found' });
      return { ok: true };
    };
    const summary = await run(ctx.db, T0);
    expect(summary).toMatchObject({ claimed: 4, succeeded: 1, retried: 1, failed: 2 });
    const rows = await sql<{ id: string; status: string; next: string | null; last_error: string | null }>(
      ctx.db,
      `select id, status, to_char(next_attempt_at at time zone 'UTC', 'HH24:MI') as next, last_error from tasks`,
    );
    const byId = Object.fromEntries(rows.map((r) => [r.id, r]));
    expect(byId[retry]).toMatchObject({ status: 'pending', next: '10:10', last_error: 'busy: busy' });
    expect(byId[perm]).toMatchObject({ status: 'failed', last_error: 'not_found: no such report' });
    expect(byId[bad]!.status).toBe('failed');
    expect(byId[bad]!.last_error).toMatch(/^invalid_payload: invalid payload: .*expected number/s);
    expect(byId[ok]!.status).toBe('done');
    // Not due before its Retry-After; due after it, as attempt 2.
    expect(await run(ctx.db, new Date(T0.getTime() + 599_000))).toMatchObject({ claimed: 0 });
    seen.length = 0;
    behaviour = async () => ({ ok: true });
    expect(await run(ctx.db, new Date(T0.getTime() + 600_000))).toMatchObject({ claimed: 1, succeeded: 1 });
    expect(seen).toEqual([{ id: retry, attempt: 2, payload: { n: 1 } }]);
  });

  test('a task whose run died is retried after its lease (at least once), and fails after the last attempt', async () => {
    await reset();
    const id = await enqueueTask(ctx.db, { queue: 'digest', payload: { n: 1 }, runAt: T0 });
    // A run claims it and dies without settling.
    await ctx.db.rpc('claim_due_tasks', {
      p_queue: 'digest',
      p_limit: 10,
      p_lease_seconds: 90,
      p_run_id: crypto.randomUUID(),
      p_now: T0,
    });
    expect(await run(ctx.db, new Date(T0.getTime() + 89_000))).toMatchObject({ claimed: 0 });
    const [row] = await sql<{ status: string; attempts: number; last_error: string }>(
      ctx.db,
      'select status, attempts, last_error from tasks',
    );
    expect(row).toMatchObject({ status: 'running', attempts: 1 });
    // After the lease: reaped back to pending with the first backoff step (60 s), then run again.
    const reaped = await run(ctx.db, new Date(T0.getTime() + 90_000));
    expect(reaped.details).toMatchObject({ reaped: 1 });
    const [after] = await sql<{ status: string; last_error: string }>(ctx.db, 'select status, last_error from tasks');
    expect(after!.status).toBe('pending');
    expect(after!.last_error).toMatch(/^lease_expired: lease expired at 2026-12-02T10:01:30Z/);
    expect(await run(ctx.db, new Date(T0.getTime() + 150_000))).toMatchObject({ claimed: 1, succeeded: 1 });
    expect(seen.map((s) => [s.id, s.attempt])).toEqual([[id, 2]]);
    // At the last attempt a dead run fails the task instead.
    await sql(
      ctx.db,
      "update tasks set status = 'running', attempts = 5, lease_until = $1, run_id = gen_random_uuid()",
      [T0.toISOString()],
    );
    await run(ctx.db, new Date(T0.getTime() + 200_000));
    const [last] = await sql<{ status: string; last_error: string }>(ctx.db, 'select status, last_error from tasks');
    expect(last!.status).toBe('failed');
    expect(last!.last_error).toMatch(/^gave up after 5 attempts: lease_expired/);
  });

  test('queue names and payload sizes are checked by the table', async () => {
    await reset();
    await expect(enqueueTask(ctx.db, { queue: 'Bad Name', payload: {} })).rejects.toThrow(/tasks_queue_name/);
    await expect(enqueueTask(ctx.db, { queue: 'digest', payload: { big: 'x'.repeat(70_000) } })).rejects.toThrow(
      /tasks_payload_size/,
    );
    expect(await statuses(ctx.db)).toEqual({});
  });
});
