import { drain } from '../lib/cron/drain.ts';
import { AccountError } from '../lib/cron/errors.ts';
import { defineJob, emptyResult, type JobResult } from '../lib/cron/job.ts';
import { leaseSecondsFor } from '../lib/cron/run.ts';
import { drainSettings } from '../lib/cron/settings.ts';
import {
  type ClaimedPost,
  claimDuePosts,
  type PublishedPost,
  postBacklog,
  reapExpiredPosts,
  settlePosts,
} from '../lib/posts/queries.ts';
import { getProvider } from '../lib/providers/index.ts';
import type { LinkedInProvider } from '../lib/providers/types.ts';

/**
 * The post scheduler: reap expired leases → claim due posts → publish through the provider → settle the batch →
 * repeat within the budget. Concurrent runs are safe (the claim skips locked rows and commits before publishing), so
 * there is no single-flight lease. Posts have no lookup API: an expired lease becomes 'uncertain' for the operator.
 */
export const postScheduler = defineJob({
  name: 'post-scheduler',
  maxDuration: 60,
  defaultLimit: 500,
  maxContinuations: 3,
  async run(ctx): Promise<JobResult> {
    const provider = getProvider();
    const reaped = await reapExpiredPosts(ctx.db, ctx.now());
    if (ctx.dryRun) {
      const due = await postBacklog(ctx.db, ctx.now());
      return { ...emptyResult(), remaining: due, details: { reaped, dryRun: true } };
    }
    const settings = drainSettings('POST');
    const result = await drain<ClaimedPost, PublishedPost>({
      budget: ctx.budget,
      batchSize: settings.batchSize,
      concurrency: settings.concurrency,
      limit: ctx.limit,
      itemTimeoutMs: provider.timeoutMs,
      minItemTimeoutMs: settings.minItemTimeoutMs,
      // Publishing is not idempotent: an error we cannot classify may have happened after LinkedIn got the post.
      unknownError: 'uncertain',
      signal: ctx.signal,
      claim: (max) =>
        claimDuePosts(ctx.db, {
          limit: max,
          leaseSeconds: leaseSecondsFor(postScheduler),
          runId: ctx.runId,
          now: ctx.now(),
        }),
      keyOf: (post) => post.account_id,
      process: (post, signal) => publish(provider, post, signal),
      settle: (outcomes) => settlePosts(ctx.db, { runId: ctx.runId, outcomes, policy: ctx.policy, now: ctx.now() }),
      // An empty claim while due posts remain means concurrent runs hold them (SKIP LOCKED): worth another look.
      moreAvailable: async () => (await postBacklog(ctx.db, ctx.now())) > 0,
    });
    const remaining = await postBacklog(ctx.db, ctx.now());
    return {
      claimed: result.claimed,
      succeeded: result.succeeded,
      failed: result.failed,
      retried: result.retried,
      uncertain: result.uncertain,
      remaining,
      hasMore: result.stoppedEarly && remaining > 0,
      details: { reaped, released: result.released, batches: result.batches },
    };
  },
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
