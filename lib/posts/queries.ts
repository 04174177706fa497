import type { Outcome, SettleCounts } from '../cron/drain.ts';
import type { RetryPolicy } from '../cron/policy.ts';
import { countSettled, outcomeRecord } from '../cron/settle.ts';
import type { Db } from '../db/types.ts';

/** One thin typed function per SQL function of the post scheduler (supabase/migrations/*_post_scheduler_functions.sql). */

export interface ClaimedPost {
  id: string;
  account_id: string;
  provider_account_id: string | null;
  content: string;
  attempts: number;
  attempted_at: string;
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
  args: { runId: string; outcomes: Outcome<PublishedPost>[]; policy: RetryPolicy; now: Date },
): Promise<SettleCounts> {
  const rows = await db.rpc<{ id: string; status: string; outcome: string }>('settle_posts', {
    p_run_id: args.runId,
    p_outcomes: args.outcomes.map((o) => outcomeRecord(o, (r) => ({ outcome: 'published', providerPostId: r.postId }))),
    p_max_attempts: args.policy.maxAttempts,
    p_backoff_seconds: args.policy.backoffSeconds,
    p_now: args.now,
  });
  return countSettled(rows, 'published');
}

export function postBacklog(db: Db, now: Date): Promise<number> {
  return db.rpc<{ post_backlog: number }>('post_backlog', { p_now: now }).then((r) => r[0]?.post_backlog ?? 0);
}
