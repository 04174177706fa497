import type { Db } from '../db/types.ts';
import type { Outcome, SettleCounts } from './drain.ts';
import type { RunContext } from './job.ts';
import { countDecisions, type OutcomeOptions, toSettleRecords } from './outcomes.ts';
import { type PolicyOverride, policyArgs } from './policy.ts';

/** What every claim written by queue_define returns, besides the queue's own payload columns. */
export interface ClaimedItem {
  id: string;
  account_id: string;
  provider_account_id: string | null;
  attempts: number;
  attempted_at: string;
  /** The item's place in its account's share of this claim (1 = first). */
  turn: number;
}

/**
 * The thin typed functions over the four SQL functions that `queue_define` writes for an account-keyed queue
 * (supabase/migrations/20261201000200_queue_define.sql; each queue's live definitions are in supabase/schema.sql):
 * `reap_expired_<plural>`, `claim_due_<plural>`, `settle_<plural>`, `<singular>_backlog`.
 */
export function accountQueue<I extends ClaimedItem, R>(names: {
  plural: string;
  singular: string;
  /** The done outcome's fields, named as queue_define's p_done_columns reads them. */
  result?: OutcomeOptions<R>['result'];
}) {
  return {
    reap(db: Db, now: Date): Promise<number> {
      const fn = `reap_expired_${names.plural}`;
      return db.rpc<Record<string, number>>(fn, { p_now: now }).then((r) => Number(r[0]?.[fn] ?? 0));
    },
    claim(db: Db, args: { limit: number; leaseSeconds: number; runId: string; now: Date }): Promise<I[]> {
      return db.rpc<I>(`claim_due_${names.plural}`, {
        p_limit: args.limit,
        p_lease_seconds: args.leaseSeconds,
        p_run_id: args.runId,
        p_now: args.now,
      });
    },
    async settle(
      db: Db,
      args: { runId: string; outcomes: Outcome<R>[]; policy?: PolicyOverride; now: Date },
    ): Promise<SettleCounts> {
      const rows = await db.rpc<{ id: string; decision: string }>(`settle_${names.plural}`, {
        p_run_id: args.runId,
        p_outcomes: toSettleRecords(args.outcomes, { result: names.result }),
        p_now: args.now,
        ...policyArgs(args.policy),
      });
      return countDecisions(rows);
    },
    backlog(db: Db, now: Date): Promise<number> {
      const fn = `${names.singular}_backlog`;
      return db.rpc<Record<string, number>>(fn, { p_now: now }).then((r) => Number(r[0]?.[fn] ?? 0));
    },
  };
}

/** The reap/claim/settle/backlog callbacks of defineQueueJob for an account-keyed queue. */
export function accountQueueCalls<I extends ClaimedItem, R>(queue: ReturnType<typeof accountQueue<I, R>>) {
  return {
    reap: (ctx: RunContext) => queue.reap(ctx.db, ctx.now()),
    claim: (ctx: RunContext, args: { limit: number; leaseSeconds: number }) =>
      queue.claim(ctx.db, { ...args, runId: ctx.runId, now: ctx.now() }),
    settle: (ctx: RunContext, outcomes: Outcome<R>[]) =>
      queue.settle(ctx.db, { runId: ctx.runId, outcomes, policy: ctx.policy, now: ctx.now() }),
    backlog: (ctx: RunContext) => queue.backlog(ctx.db, ctx.now()),
  };
}
