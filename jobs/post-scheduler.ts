import { defineQueueJob } from '../lib/cron/queue-job.ts';
import { type ClaimedPost, type PublishedPost, postQueueCalls } from '../lib/posts/queries.ts';
import { AccountError } from '../lib/providers/errors.ts';
import { getProvider } from '../lib/providers/index.ts';
import type { LinkedInProvider } from '../lib/providers/types.ts';

/**
 * The post scheduler: reap expired leases → claim due posts, round-robin over accounts → publish through the provider →
 * settle the batch → repeat within the budget. Concurrent runs are safe (the claim skips locked rows and commits
 * before publishing). Posts have no lookup API: an expired lease becomes 'uncertain' for the operator.
 */
export const postScheduler = defineQueueJob<ClaimedPost, PublishedPost, LinkedInProvider>({
  name: 'post-scheduler',
  schedule: '*/15 * * * *',
  maxDuration: 60,
  defaultLimit: 500,
  maxContinuations: 3,
  settingsPrefix: 'POST',
  probe: 'post_probe',
  // Publishing is not idempotent: an error we cannot classify may have happened after LinkedIn got the post.
  unknownError: 'uncertain',
  retryLockedClaims: true,
  prepare: () => getProvider(),
  itemTimeoutMs: (provider) => provider.timeoutMs,
  ...postQueueCalls,
  keyOf: (post) => post.account_id,
  process: (post, signal, provider) => publish(provider, post, signal),
});

function publish(provider: LinkedInProvider, post: ClaimedPost, signal: AbortSignal): Promise<PublishedPost> {
  if (!post.provider_account_id) {
    // The account, not the post, is misconfigured: pause the account and keep its posts.
    return Promise.reject(
      new AccountError('the account has no unipile_account_id', {
        code: 'missing_provider_account',
        accountStatus: 'paused',
      }),
    );
  }
  return provider.publishPost({ accountId: post.provider_account_id, text: post.content }, signal);
}
