import { accountQueue, accountQueueCalls, type ClaimedItem } from '../cron/account-queue.ts';

/**
 * One thin typed function per SQL function of the post scheduler: reap_expired_posts, claim_due_posts, settle_posts and
 * post_backlog, all written by queue_define (supabase/migrations/20261201000300_queues_on_core.sql); the live
 * definitions are in supabase/schema.sql.
 */

export interface ClaimedPost extends ClaimedItem {
  content: string;
}

export interface PublishedPost {
  postId: string | null;
}

const posts = accountQueue<ClaimedPost, PublishedPost>({
  plural: 'posts',
  singular: 'post',
  result: (r) => ({ postId: r.postId }),
});

export const postQueueCalls = accountQueueCalls(posts);
export const reapExpiredPosts = posts.reap;
export const claimDuePosts = posts.claim;
export const settlePosts = posts.settle;
export const postBacklog = posts.backlog;
