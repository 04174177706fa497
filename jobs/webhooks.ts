import { defineQueueJob } from '../lib/cron/queue-job.ts';
import { log, toErrorMessage } from '../lib/log.ts';
import { deliverWebhook } from '../lib/webhooks/deliver.ts';
import {
  type ClaimedDelivery,
  claimDeliveries,
  type Delivered,
  settleDeliveries,
  webhookBacklog,
} from '../lib/webhooks/queries.ts';
import { PER_ENDPOINT_PER_CLAIM, type WebhookSettings, webhookSettings } from '../lib/webhooks/settings.ts';

/**
 * Outbound webhooks: claim due deliveries (a lease each, at most a few per endpoint, SKIP LOCKED) → POST each, signed
 * → settle the batch in one statement → repeat within the budget. At least once: a run killed mid-request leaves a
 * lease that expires, and the message goes out again with the same webhook-id for the receiver to dedupe. An endpoint
 * that fails is skipped for the rest of the run, so a dead receiver costs one timeout per run, not one per message.
 */
export const webhooks = defineQueueJob<ClaimedDelivery, Delivered, WebhookSettings>({
  name: 'webhooks',
  schedule: '* * * * *',
  maxDuration: 60,
  defaultLimit: 1000,
  maxContinuations: 3,
  settingsPrefix: 'WEBHOOK',
  probe: 'webhook_probe',
  unknownError: 'retry',
  prepare: () => webhookSettings(),
  itemTimeoutMs: (settings) => settings.timeoutMs,
  leaseSeconds: (settings) => Math.ceil(settings.timeoutMs / 1000) + 60,
  claim: (ctx, { limit, leaseSeconds }) =>
    claimDeliveries(ctx.db, {
      limit,
      leaseSeconds,
      runId: ctx.runId,
      perEndpoint: PER_ENDPOINT_PER_CLAIM,
      now: ctx.now(),
    }),
  keyOf: (d) => d.endpoint_id,
  process: async (d, signal, settings, ctx) => {
    try {
      return await deliverWebhook(d, { signal, now: ctx.now(), allowPrivate: settings.allowPrivate });
    } catch (e) {
      // Ids and the host only: never the payload, and not the full URL (it may carry the receiver's token).
      log('warn', 'webhook attempt failed', {
        deliveryId: d.id,
        endpointId: d.endpoint_id,
        event: d.event_type,
        attempt: d.attempts,
        host: hostOf(d.url),
        error: toErrorMessage(e),
      });
      throw e;
    }
  },
  settle: (ctx, outcomes, settings) =>
    settleDeliveries(ctx.db, {
      runId: ctx.runId,
      outcomes,
      policy: ctx.policy,
      disableAfter: settings.disableAfter,
      now: ctx.now(),
    }),
  backlog: (ctx) => webhookBacklog(ctx.db, ctx.now()),
});

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'invalid URL';
  }
}
