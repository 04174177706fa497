import type { z } from 'zod';
import { PermanentError } from '../cron/errors.ts';
import { defineQueueJob, type QueueJobDefinition } from '../cron/queue-job.ts';
import { type ClaimedTask, claimDueTasks, reapExpiredTasks, settleTasks, taskBacklog } from './queries.ts';

export interface TaskContext {
  id: string;
  /** 1 on the first attempt. */
  attempt: number;
  signal: AbortSignal;
}

export interface TaskJobSpec<P, R> {
  /** The job's name, and the task queue it drains unless `queue` says otherwise. */
  name: string;
  queue?: string;
  schedule: string;
  timezone?: string;
  maxDuration: number;
  defaultLimit?: number;
  /** Environment prefix of the drain settings (default TASK_<NAME>): `<PREFIX>_CONCURRENCY`, `_BATCH_SIZE`. */
  settingsPrefix?: string;
  /** A task's worst case (default 10 s): its handler gets a signal that aborts then. */
  timeoutMs?: number;
  /** The payload's shape: a task whose payload does not parse fails alone, with the zod message. */
  payload?: z.ZodType<P>;
  /** Throw a typed error (PermanentError, RetryableError with retryAfterMs) to say what failed; anything else retries. */
  handler(payload: P, task: TaskContext): Promise<R>;
}

/**
 * A job that drains one queue of the generic `tasks` table (supabase/migrations/20261202000400_tasks.sql): the same
 * run log, budget, drain loop, state machine and retry policy (queue_policies 'task') as every other queue, at least
 * once, without accounts. Enqueue with `enqueueTask(db, { queue, payload, runAt })`.
 */
export function defineTaskJob<P = unknown, R = unknown>(spec: TaskJobSpec<P, R>): QueueJobDefinition {
  const queue = spec.queue ?? spec.name;
  const timeoutMs = spec.timeoutMs ?? 10_000;
  return defineQueueJob<ClaimedTask, R, undefined>({
    name: spec.name,
    schedule: spec.schedule,
    timezone: spec.timezone,
    maxDuration: spec.maxDuration,
    defaultLimit: spec.defaultLimit ?? 1000,
    settingsPrefix: spec.settingsPrefix ?? `TASK_${spec.name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`,
    // A task is at least once: an error we cannot classify is retried.
    unknownError: 'retry',
    retryLockedClaims: true,
    prepare: () => undefined,
    itemTimeoutMs: () => timeoutMs,
    reap: (ctx) => reapExpiredTasks(ctx.db, { queue, now: ctx.now() }),
    claim: (ctx, args) => claimDueTasks(ctx.db, { queue, ...args, runId: ctx.runId, now: ctx.now() }),
    settle: (ctx, outcomes) => settleTasks(ctx.db, { runId: ctx.runId, outcomes, policy: ctx.policy, now: ctx.now() }),
    backlog: (ctx) => taskBacklog(ctx.db, { queue, now: ctx.now() }),
    process: (task, signal) => {
      let payload = task.payload as P;
      if (spec.payload) {
        const parsed = spec.payload.safeParse(task.payload);
        if (!parsed.success) {
          return Promise.reject(
            new PermanentError(`invalid payload: ${parsed.error.message}`, { code: 'invalid_payload' }),
          );
        }
        payload = parsed.data;
      }
      return spec.handler(payload, { id: task.id, attempt: task.attempts, signal });
    },
  });
}
