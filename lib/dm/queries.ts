import type { Outcome, SettleCounts } from '../cron/drain.ts';
import { countDecisions, toSettleRecords } from '../cron/outcomes.ts';
import { type PolicyOverride, policyArgs } from '../cron/policy.ts';
import type { Db } from '../db/types.ts';
import type { SentMessage } from '../providers/types.ts';

/**
 * One thin typed function per SQL function of the DM queue. reap_expired_dms, claim_due_dms, settle_dms and dm_backlog
 * are written by queue_define (supabase/migrations/20261201000300_queues_on_core.sql); claim_uncertain_dms and
 * resolve_uncertain_dm are the DM queue's own (20261125000800_dm_queue_functions.sql). The live definition of each is
 * in supabase/schema.sql.
 */

export interface ClaimedDm {
  id: string;
  account_id: string;
  provider_account_id: string | null;
  recipient_id: string;
  body: string;
  attempts: number;
  attempted_at: string;
  turn: number;
}

export function reapExpiredDms(db: Db, now: Date): Promise<number> {
  return db
    .rpc<{ reap_expired_dms: number }>('reap_expired_dms', { p_now: now })
    .then((r) => r[0]?.reap_expired_dms ?? 0);
}

export function claimDueDms(
  db: Db,
  args: { limit: number; leaseSeconds: number; runId: string; now: Date },
): Promise<ClaimedDm[]> {
  return db.rpc<ClaimedDm>('claim_due_dms', {
    p_limit: args.limit,
    p_lease_seconds: args.leaseSeconds,
    p_run_id: args.runId,
    p_now: args.now,
  });
}

export async function settleDms(
  db: Db,
  args: { runId: string; outcomes: Outcome<SentMessage>[]; policy?: PolicyOverride; now: Date },
): Promise<SettleCounts> {
  const rows = await db.rpc<{ id: string; decision: string }>('settle_dms', {
    p_run_id: args.runId,
    p_outcomes: toSettleRecords(args.outcomes, { result: (r) => ({ messageId: r.messageId, chatId: r.chatId }) }),
    p_now: args.now,
    ...policyArgs(args.policy),
  });
  return countDecisions(rows);
}

export function dmBacklog(db: Db, now: Date): Promise<number> {
  return db.rpc<{ dm_backlog: number }>('dm_backlog', { p_now: now }).then((r) => r[0]?.dm_backlog ?? 0);
}

export interface UncertainDm {
  id: string;
  account_id: string;
  provider_account_id: string | null;
  recipient_id: string;
  body: string;
  attempted_at: string;
}

export function claimUncertainDms(db: Db, args: { limit: number; now: Date }): Promise<UncertainDm[]> {
  return db.rpc<UncertainDm>('claim_uncertain_dms', { p_limit: args.limit, p_now: args.now });
}

export function resolveUncertainDm(db: Db, args: { id: string; found: SentMessage; now: Date }): Promise<boolean> {
  return db
    .rpc<{ resolve_uncertain_dm: boolean }>('resolve_uncertain_dm', {
      p_id: args.id,
      p_provider_message_id: args.found.messageId,
      p_provider_chat_id: args.found.chatId,
      p_now: args.now,
    })
    .then((r) => r[0]?.resolve_uncertain_dm ?? false);
}
