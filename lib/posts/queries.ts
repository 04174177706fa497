import type { Outcome, SettleCounts } from '../cron/drain.ts';
import { countDecisions, toSettleRecords } from '../cron/outcomes.ts';
import { type PolicyOverride, policyArgs } from '../cron/policy.ts';
import type { Db } from '../db/types.ts';

/**
 * One thin typed function per SQL function of the post scheduler: reap_expired_posts, claim_due_posts, settle_posts and
 * post_backlog, all written by queue_define (supabase/migrations/20261201000300_queues_on_core.sql); the live
 * definitions are in supabase/schema.sql.
 */

export interface ClaimedPost {
  id: string;
  account_id: string;
  provider_account_id: string | null;
  content: string;
  attempts: number;
  attempted_at: string;
  turn: number;
}

export interface PublishedPost {
  postId: string | null;
}

export function reapExpiredPosts(db: Db, now: Date): Promise<number> {
  return db
    .rpc<{ reap_expired_posts: number }>('reap_expired_posts', { p_now: now })
    .then((r) => r[0]?.reap_expired_posts ?? 0);
}

export function claimDuePosts(
  db: Db,
  args: { limit: number; leaseSeconds: number; runId: string; now: Date },
): Promise<ClaimedPost[]> {
  return db.rpc<ClaimedPost>('claim_due_posts', {
    p_limit: args.limit,
    p_lease_seconds: args.leaseSeconds,
    p_run_id: args.runId,
    p_now: args.now,
  });
}

export async function settlePosts(
  db: Db,
  args: { runId: string; outcomes: Outcome<PublishedPost>[]; policy?: PolicyOverride; now: Date },
): Promise<SettleCounts> {
  const rows = await db.rpc<{ id: string; decision: string }>('settle_posts', {
    p_run_id: args.runId,
    p_outcomes: toSettleRecords(args.outcomes, { result: (r) => ({ postId: r.postId }) }),
    p_now: args.now,
    ...policyArgs(args.policy),
  });
  return countDecisions(rows);
}

export function postBacklog(db: Db, now: Date): Promise<number> {
  return db.rpc<{ post_backlog: number }>('post_backlog', { p_now: now }).then((r) => r[0]?.post_backlog ?? 0);
}
