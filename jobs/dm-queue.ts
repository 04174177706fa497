import type { RunContext } from '../lib/cron/job.ts';
import { defineQueueJob } from '../lib/cron/queue-job.ts';
import {
  type ClaimedDm,
  claimUncertainDms,
  dmQueueCalls,
  releaseUncertainDms,
  resolveUncertainDm,
} from '../lib/dm/queries.ts';
import { log, toErrorMessage } from '../lib/log.ts';
import { AccountError } from '../lib/providers/errors.ts';
import { getProvider } from '../lib/providers/index.ts';
import type { LinkedInProvider, SentMessage } from '../lib/providers/types.ts';

/** Uncertain DMs looked up at the provider per run, at most. */
const RECONCILE_PER_RUN = 20;

/**
 * The DM queue: reap expired leases → claim due DMs within each account's daily cap → send through the provider →
 * settle the batch → repeat within the budget → look up a few uncertain DMs. Concurrent runs are safe and useful
 * (they claim different accounts), so there is no single-flight lease.
 */
export const dmQueue = defineQueueJob<ClaimedDm, SentMessage, LinkedInProvider>({
  name: 'dm-queue',
  schedule: '*/15 * * * *',
  maxDuration: 60,
  defaultLimit: 1000,
  maxContinuations: 3,
  settingsPrefix: 'DM',
  // Due DMs, expired leases, uncertain DMs due for a lookup (supabase/migrations/20261202000200_zero_work_runs.sql).
  probe: 'dm_probe',
  // A DM is not idempotent: an error we cannot classify may have happened after LinkedIn got it.
  unknownError: 'uncertain',
  retryLockedClaims: true,
  prepare: () => getProvider(),
  itemTimeoutMs: (provider) => provider.timeoutMs,
  ...dmQueueCalls,
  keyOf: (dm) => dm.account_id,
  process: (dm, signal, provider) => sendDm(provider, dm, signal),
  finish: async (ctx, provider) => ({ reconciled: await reconcileUncertain(ctx, provider) }),
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
  // The claim stamps every row it returns as checked (concurrent runs take other rows); it returns only rows of
  // accounts with a provider account id, and the ones this run does not look up are given back below.
  const claimedAt = ctx.now();
  const rows = await claimUncertainDms(ctx.db, { limit: RECONCILE_PER_RUN, now: claimedAt });
  const notLookedUp: string[] = [];
  let resolved = 0;
  for (const dm of rows) {
    // Skip, never stop: one row that cannot be looked up must not hold back the rows after it.
    if (!dm.provider_account_id || !ctx.budget.fits(provider.timeoutMs * 2 + 1000)) {
      notLookedUp.push(dm.id);
      continue;
    }
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
  // Not given back (database error): they are looked up an hour later instead of next run; nothing else is lost.
  await releaseUncertainDms(ctx.db, { ids: notLookedUp, now: claimedAt }).catch((e: unknown) =>
    log('warn', 'uncertain DM release failed', { count: notLookedUp.length, error: toErrorMessage(e) }),
  );
  return resolved;
}
