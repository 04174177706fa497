import type { Outcome, SettleCounts } from '../cron/drain.ts';
import type { RetryPolicy } from '../cron/policy.ts';
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

/** The drain loop's outcome names, in the vocabulary of settle_posts. */
function toSqlOutcome(o: Outcome<PublishedPost>): Record<string, unknown> {
  switch (o.outcome) {
    case 'success':
      return { id: o.id, outcome: 'published', providerPostId: o.result.postId };
    case 'failed':
    case 'uncertain':
      return { id: o.id, outcome: o.outcome, error: o.error, code: o.code };
    case 'retry':
      return {
        id: o.id,
        outcome: 'retry',
        error: o.error,
        code: o.code,
        retryAfterMs: o.retryAfterMs,
        cooldownAccount: o.cooldownAccount,
      };
    case 'account':
      return { id: o.id, outcome: 'account', error: o.error, code: o.code, accountStatus: o.accountStatus };
    case 'release':
      return { id: o.id, outcome: 'release', error: o.error };
  }
}

export async function settlePosts(
  db: Db,
  args: { runId: string; outcomes: Outcome<PublishedPost>[]; policy: RetryPolicy; now: Date },
): Promise<SettleCounts> {
  const rows = await db.rpc<{ id: string; status: string; outcome: string }>('settle_posts', {
    p_run_id: args.runId,
    p_outcomes: args.outcomes.map(toSqlOutcome),
    p_max_attempts: args.policy.maxAttempts,
    p_backoff_seconds: args.policy.backoffSeconds,
    p_now: args.now,
  });
  const counts: SettleCounts = { succeeded: 0, failed: 0, retried: 0, uncertain: 0, released: 0 };
  for (const r of rows) {
    if (r.status === 'published') counts.succeeded++;
    else if (r.status === 'failed') counts.failed++;
    else if (r.status === 'uncertain') counts.uncertain++;
    else if (r.outcome === 'retry') counts.retried++;
    else counts.released++;
  }
  return counts;
}

export function postBacklog(db: Db, now: Date): Promise<number> {
  return db.rpc<{ post_backlog: number }>('post_backlog', { p_now: now }).then((r) => r[0]?.post_backlog ?? 0);
}
