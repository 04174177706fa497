import { drain } from '../lib/cron/drain.ts';
import { AccountError } from '../lib/cron/errors.ts';
import { defineJob, type JobResult, type RunContext } from '../lib/cron/job.ts';
import { leaseSecondsFor } from '../lib/cron/run.ts';
import { drainSettings } from '../lib/cron/settings.ts';
import {
  type ClaimedDm,
  claimDueDms,
  claimUncertainDms,
  dmBacklog,
  reapExpiredDms,
  resolveUncertainDm,
  settleDms,
} from '../lib/dm/queries.ts';
import { log, toErrorMessage } from '../lib/log.ts';
import { getProvider } from '../lib/providers/index.ts';
import type { LinkedInProvider, SentMessage } from '../lib/providers/types.ts';

/** Uncertain DMs looked up at the provider per run, at most. */
const RECONCILE_PER_RUN = 20;

/**
 * The DM queue: reap expired leases → claim due DMs within each account's daily cap → send through the provider →
 * settle the batch → repeat within the budget → look up a few uncertain DMs. Concurrent runs are safe and useful
 * (they claim different accounts), so there is no single-flight lease.
 */
export const dmQueue = defineJob({
  name: 'dm-queue',
  maxDuration: 60,
  defaultLimit: 1000,
  maxContinuations: 3,
  async run(ctx) {
    const provider = getProvider();
    const reaped = await reapExpiredDms(ctx.db, ctx.now());
    if (ctx.dryRun) {
      const due = await dmBacklog(ctx.db, ctx.now());
      return {
        claimed: 0,
        succeeded: 0,
        failed: 0,
        retried: 0,
        uncertain: 0,
        remaining: due,
        hasMore: false,
        details: { reaped, dryRun: true },
      };
    }
    const settings = drainSettings('DM');
    const result = await drain<ClaimedDm, SentMessage>({
      budget: ctx.budget,
      batchSize: settings.batchSize,
      concurrency: settings.concurrency,
      limit: ctx.limit,
      itemTimeoutMs: provider.timeoutMs,
      minItemTimeoutMs: settings.minItemTimeoutMs,
      // A DM is not idempotent: an error we cannot classify may have happened after LinkedIn got it.
      unknownError: 'uncertain',
      signal: ctx.signal,
      claim: (max) =>
        claimDueDms(ctx.db, { limit: max, leaseSeconds: leaseSecondsFor(dmQueue), runId: ctx.runId, now: ctx.now() }),
      keyOf: (dm) => dm.account_id,
      process: (dm, signal) => sendDm(provider, dm, signal),
      settle: (outcomes) => settleDms(ctx.db, { runId: ctx.runId, outcomes, policy: ctx.policy, now: ctx.now() }),
      moreAvailable: async () => (await dmBacklog(ctx.db, ctx.now())) > 0,
    });
    const reconciled = await reconcileUncertain(ctx, provider);
    const remaining = await dmBacklog(ctx.db, ctx.now());
    const summary: JobResult = {
      claimed: result.claimed,
      succeeded: result.succeeded,
      failed: result.failed,
      retried: result.retried,
      uncertain: result.uncertain,
      remaining,
      hasMore: result.stoppedEarly && remaining > 0,
      details: { reaped, reconciled, released: result.released, batches: result.batches },
    };
    return summary;
  },
});

function sendDm(provider: LinkedInProvider, dm: ClaimedDm, signal: AbortSignal): Promise<SentMessage> {
  if (!dm.provider_account_id) {
    // The account, not the DM, is misconfigured: pause the account and keep its DMs.
    return Promise.reject(
      new AccountError('the account has no unipile_account_id', {
        code: 'missing_provider_account',
        accountStatus: 'paused',
      }),
    );
  }
  return provider.sendMessage(
    { accountId: dm.provider_account_id, recipientId: dm.recipient_id, text: dm.body },
    signal,
  );
}

/** Looks a few uncertain DMs up at the provider; found ones become 'sent', the rest stay for the operator. */
async function reconcileUncertain(ctx: RunContext, provider: LinkedInProvider): Promise<number> {
  if (!ctx.budget.fits(provider.timeoutMs * 2 + 1000)) return 0;
  const rows = await claimUncertainDms(ctx.db, { limit: RECONCILE_PER_RUN, now: ctx.now() });
  let resolved = 0;
  for (const dm of rows) {
    if (!dm.provider_account_id || !ctx.budget.fits(provider.timeoutMs * 2 + 1000)) break;
    try {
      const found = await provider.findSentMessage(
        {
          accountId: dm.provider_account_id,
          recipientId: dm.recipient_id,
          text: dm.body,
          after: new Date(new Date(dm.attempted_at).getTime() - 60_000),
        },
        AbortSignal.timeout(provider.timeoutMs * 2),
      );
      if (found && (await resolveUncertainDm(ctx.db, { id: dm.id, found, now: ctx.now() }))) resolved++;
    } catch (e) {
      log('warn', 'uncertain DM lookup failed', { dmId: dm.id, error: toErrorMessage(e) });
    }
  }
  return resolved;
}
