import { randomBytes } from 'node:crypto';
import type { Outcome, SettleCounts } from '../cron/drain.ts';
import { countDecisions, toSettleRecords } from '../cron/outcomes.ts';
import { type PolicyOverride, policyArgs } from '../cron/policy.ts';
import type { Db } from '../db/types.ts';

/** One thin typed function per SQL function of outbound webhooks (supabase/migrations/*_webhooks.sql). */

export const WEBHOOK_EVENTS = ['dm.sent', 'dm.failed', 'post.published', 'post.failed', 'sync.completed'] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** A new Standard Webhooks secret for webhook_endpoints.secret: `whsec_` + base64 of 24 random bytes. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

export interface WebhookPayload {
  type: string;
  timestamp: string;
  data: Record<string, unknown>;
}

export interface ClaimedDelivery {
  id: string;
  endpoint_id: string;
  url: string;
  secret: string;
  msg_id: string;
  event_type: string;
  payload: WebhookPayload;
  attempts: number;
}

export function claimDeliveries(
  db: Db,
  args: { limit: number; leaseSeconds: number; runId: string; perEndpoint: number; now: Date },
): Promise<ClaimedDelivery[]> {
  return db
    .rpc<ClaimedDelivery>('claim_webhook_deliveries', {
      p_limit: args.limit,
      p_lease_seconds: args.leaseSeconds,
      p_run_id: args.runId,
      p_per_endpoint: args.perEndpoint,
      p_now: args.now,
    })
    .then((rows) =>
      // jsonb comes back parsed on the drivers and on PostgREST; a string would mean a transport sent it as text.
      rows.map((r) => ({ ...r, payload: typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload })),
    );
}

/** What a delivery attempt answered: the receiver's status. */
export interface Delivered {
  httpStatus: number;
}

/** `http_503` → 503: a failed attempt's code carries the receiver's status (absent for timeouts and network errors). */
function httpStatusOf(code: string | undefined): number | undefined {
  const m = code ? /^http_(\d{3})$/.exec(code) : null;
  return m ? Number(m[1]) : undefined;
}

/**
 * Records a batch of delivery outcomes: settle_webhook_deliveries (supabase/migrations/20261201000300_queues_on_core.sql)
 * through the core's transition. At least once: no answer in time and a key outcome are both retried; the receiver's
 * HTTP status goes with each outcome, and the error message already names it (no code prefix).
 */
export async function settleDeliveries(
  db: Db,
  args: { runId: string; outcomes: Outcome<Delivered>[]; policy?: PolicyOverride; disableAfter: number; now: Date },
): Promise<SettleCounts> {
  const rows = await db.rpc<{ id: string; decision: string }>('settle_webhook_deliveries', {
    p_run_id: args.runId,
    p_outcomes: toSettleRecords(args.outcomes, {
      uncertain: 'retry',
      key: 'retry',
      code: false,
      extra: (o) =>
        o.outcome === 'success'
          ? { httpStatus: o.result.httpStatus }
          : o.outcome === 'release'
            ? undefined
            : { httpStatus: httpStatusOf(o.code) },
    }),
    p_disable_after: args.disableAfter,
    p_now: args.now,
    ...policyArgs(args.policy),
  });
  return countDecisions(rows);
}

export function webhookBacklog(db: Db, now: Date): Promise<number> {
  return db.rpc<{ webhook_backlog: number }>('webhook_backlog', { p_now: now }).then((r) => r[0]?.webhook_backlog ?? 0);
}

/** Admin: re-enables an endpoint and resets its failure count; false when it does not exist. */
export function enableWebhookEndpoint(db: Db, args: { endpointId: string; now?: Date }): Promise<boolean> {
  return db
    .rpc<{ webhook_endpoint_enable: boolean }>('webhook_endpoint_enable', {
      p_endpoint_id: args.endpointId,
      p_now: args.now,
    })
    .then((r) => r[0]?.webhook_endpoint_enable ?? false);
}

/** Admin: sends a failed delivery again (same webhook-id, fresh attempts); false unless it exists and is 'failed'. */
export function redeliverWebhook(db: Db, args: { deliveryId: string; now?: Date }): Promise<boolean> {
  return db
    .rpc<{ webhook_delivery_redeliver: boolean }>('webhook_delivery_redeliver', {
      p_delivery_id: args.deliveryId,
      p_now: args.now,
    })
    .then((r) => r[0]?.webhook_delivery_redeliver ?? false);
}
