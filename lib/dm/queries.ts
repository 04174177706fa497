import { accountQueue, accountQueueCalls, type ClaimedItem } from '../cron/account-queue.ts';
import type { Db } from '../db/types.ts';
import type { SentMessage } from '../providers/types.ts';

/**
 * One thin typed function per SQL function of the DM queue. reap_expired_dms, claim_due_dms, settle_dms and dm_backlog
 * are written by queue_define (supabase/migrations/20261201000300_queues_on_core.sql); claim_uncertain_dms and
 * resolve_uncertain_dm are the DM queue's own (20261125000800_dm_queue_functions.sql). The live definition of each is
 * in supabase/schema.sql.
 */

export interface ClaimedDm extends ClaimedItem {
  recipient_id: string;
  body: string;
}

const dms = accountQueue<ClaimedDm, SentMessage>({
  plural: 'dms',
  singular: 'dm',
  result: (r) => ({ messageId: r.messageId, chatId: r.chatId }),
});

export const dmQueueCalls = accountQueueCalls(dms);
export const reapExpiredDms = dms.reap;
export const claimDueDms = dms.claim;
export const settleDms = dms.settle;
export const dmBacklog = dms.backlog;

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

/**
 * Gives back uncertain DMs this run claimed at `now` but did not look up, so the next run takes them first
 * (release_uncertain_dms, 20261201000800_reconcile_and_sync_dates.sql).
 */
export function releaseUncertainDms(db: Db, args: { ids: string[]; now: Date }): Promise<number> {
  if (args.ids.length === 0) return Promise.resolve(0);
  return db
    .rpc<{ release_uncertain_dms: number }>('release_uncertain_dms', { p_ids: args.ids, p_now: args.now })
    .then((r) => r[0]?.release_uncertain_dms ?? 0);
}
