import type { Outcome, SettleCounts } from '../cron/drain.ts';
import { countDecisions, toSettleRecords } from '../cron/outcomes.ts';
import { type PolicyOverride, policyArgs } from '../cron/policy.ts';
import type { Db } from '../db/types.ts';

/**
 * One thin typed function per SQL function of the generic task queue (supabase/migrations/20261202000400_tasks.sql):
 * enqueue_task, reap_expired_tasks, claim_due_tasks, settle_tasks, task_backlog. Tasks belong to no account; each is
 * named by its queue and carries a JSON payload.
 */

export interface ClaimedTask {
  id: string;
  payload: unknown;
  attempts: number;
  attempted_at: string;
}

/** Tasks are at least once: an uncertain outcome is retried, and they have no key (account) to pause. */
const OPTIONS = { uncertain: 'retry', key: 'retry' } as const;

export async function enqueueTask(db: Db, args: { queue: string; payload?: unknown; runAt?: Date }): Promise<string> {
  const [row] = await db.rpc<{ enqueue_task: string }>('enqueue_task', {
    p_queue: args.queue,
    p_payload: args.payload ?? {},
    p_run_at: args.runAt ?? null,
  });
  if (!row) throw new Error('enqueue_task returned nothing');
  return row.enqueue_task;
}

export function reapExpiredTasks(db: Db, args: { queue: string; now: Date }): Promise<number> {
  return db
    .rpc<{ reap_expired_tasks: number }>('reap_expired_tasks', { p_queue: args.queue, p_now: args.now })
    .then((r) => Number(r[0]?.reap_expired_tasks ?? 0));
}

export function claimDueTasks(
  db: Db,
  args: { queue: string; limit: number; leaseSeconds: number; runId: string; now: Date },
): Promise<ClaimedTask[]> {
  return db.rpc<ClaimedTask>('claim_due_tasks', {
    p_queue: args.queue,
    p_limit: args.limit,
    p_lease_seconds: args.leaseSeconds,
    p_run_id: args.runId,
    p_now: args.now,
  });
}

export async function settleTasks<R>(
  db: Db,
  args: { runId: string; outcomes: Outcome<R>[]; policy?: PolicyOverride; now: Date },
): Promise<SettleCounts> {
  const rows = await db.rpc<{ id: string; decision: string }>('settle_tasks', {
    p_run_id: args.runId,
    p_outcomes: toSettleRecords(args.outcomes, OPTIONS),
    p_now: args.now,
    ...policyArgs(args.policy),
  });
  return countDecisions(rows);
}

export function taskBacklog(db: Db, args: { queue: string; now: Date }): Promise<number> {
  return db
    .rpc<{ task_backlog: number }>('task_backlog', { p_queue: args.queue, p_now: args.now })
    .then((r) => Number(r[0]?.task_backlog ?? 0));
}
