import { z } from 'zod';
import { envValue } from '../env.ts';

const int = (min: number, max: number, fallback: number) => z.coerce.number().int().min(min).max(max).catch(fallback);

const schema = z.object({
  timeoutMs: int(1_000, 60_000, 10_000),
  disableAfter: int(0, 1_000, 5),
  allowPrivate: z.boolean(),
});

export type WebhookSettings = z.infer<typeof schema>;

/** Responses are read up to this many bytes (only the status matters; a snippet goes to last_error). */
export const MAX_RESPONSE_BYTES = 64 * 1024;
/** Deliveries to one endpoint per claim: one slow or dead receiver cannot fill a whole batch. */
export const PER_ENDPOINT_PER_CLAIM = 10;

/**
 * WEBHOOK_TIMEOUT_MS (10 s): one attempt's limit, connection to last byte read. WEBHOOK_DISABLE_AFTER (5): consecutive
 * failed messages (each after its retries) that disable an endpoint, 0 = never. WEBHOOKS_ALLOW_PRIVATE=1: allow
 * private, loopback and link-local targets (local development only). An invalid number falls back to its default.
 */
export function webhookSettings(env: NodeJS.ProcessEnv = process.env): WebhookSettings {
  return schema.parse({
    timeoutMs: envValue(env, 'WEBHOOK_TIMEOUT_MS') ?? 10_000,
    disableAfter: envValue(env, 'WEBHOOK_DISABLE_AFTER') ?? 5,
    allowPrivate: env.WEBHOOKS_ALLOW_PRIVATE === '1' || env.WEBHOOKS_ALLOW_PRIVATE === 'true',
  });
}
