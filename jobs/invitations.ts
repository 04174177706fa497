import { accountQueue, accountQueueCalls, type ClaimedItem } from '../lib/cron/account-queue.ts';
import { defineQueueJob } from '../lib/cron/queue-job.ts';
import { AccountError } from '../lib/providers/errors.ts';
import { getProvider } from '../lib/providers/index.ts';
import type { LinkedInProvider, SentInvitation } from '../lib/providers/types.ts';

interface ClaimedInvitation extends ClaimedItem {
  recipient_id: string;
  message: string | null;
}

/** reap_expired_invitations, claim_due_invitations, settle_invitations, invitation_backlog (queue_define). */
const invitations = accountQueue<ClaimedInvitation, SentInvitation>({
  plural: 'invitations',
  singular: 'invitation',
  result: (r) => ({ invitationId: r.invitationId }),
});

/**
 * LinkedIn connection invitations: claim due invitations within each account's weekly cap (Monday 00:00 in the
 * account's time zone) → send through the provider → settle the batch → repeat within the budget. Like a DM, an
 * invitation is not idempotent: a call that may have reached LinkedIn becomes 'uncertain', never re-sent blindly.
 */
export const invitationsJob = defineQueueJob<ClaimedInvitation, SentInvitation, LinkedInProvider>({
  name: 'invitations',
  schedule: '*/15 * * * *',
  maxDuration: 60,
  defaultLimit: 1000,
  maxContinuations: 3,
  settingsPrefix: 'INVITE',
  probe: 'invitation_probe',
  unknownError: 'uncertain',
  retryLockedClaims: true,
  prepare: () => getProvider(),
  itemTimeoutMs: (provider) => provider.timeoutMs,
  ...accountQueueCalls(invitations),
  keyOf: (item) => item.account_id,
  process: (item, signal, provider) =>
    item.provider_account_id
      ? provider.sendInvitation(
          { accountId: item.provider_account_id, providerId: item.recipient_id, message: item.message },
          signal,
        )
      : Promise.reject(
          new AccountError('the account has no unipile_account_id', {
            code: 'missing_provider_account',
            accountStatus: 'paused',
          }),
        ),
});
