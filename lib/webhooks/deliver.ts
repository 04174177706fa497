import { PermanentError, RetryableError } from '../cron/errors.ts';
import { parseRetryAfter } from '../http/retry-after.ts';
import type { ClaimedDelivery, Delivered } from './queries.ts';
import { postJson } from './send.ts';
import { MAX_RESPONSE_BYTES } from './settings.ts';
import { signatureHeaders } from './sign.ts';
import { checkTarget, type Resolver, systemResolver } from './target.ts';

let resolver: Resolver = systemResolver;

/** Replaces (or with undefined, restores) the DNS resolver used to check webhook targets; for tests. */
export function setWebhookResolver(next: Resolver | undefined): void {
  resolver = next ?? systemResolver;
}

function rejectOnAbort(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    const fail = () => reject(new RetryableError('timed out while resolving the host', { code: 'timeout' }));
    if (signal.aborted) fail();
    else signal.addEventListener('abort', fail, { once: true });
  });
}

/**
 * One attempt at one delivery: check the target, sign, POST `{ type, timestamp, data }`, and classify the answer. 2xx
 * is delivered; any other status, a redirect (never followed), a network error or no answer in time is a
 * RetryableError (the engine's backoff), marked to stop this endpoint for the rest of the run; a refused target or an
 * unusable URL or secret is a PermanentError (the delivery fails at once).
 */
export async function deliverWebhook(
  delivery: ClaimedDelivery,
  args: { signal: AbortSignal; now: Date; allowPrivate: boolean },
): Promise<Delivered> {
  let url: URL;
  try {
    url = new URL(delivery.url);
  } catch {
    throw new PermanentError('refused target: the endpoint URL is not a valid URL', { code: 'invalid_url' });
  }
  const pinned = await Promise.race([
    checkTarget(url, { allowPrivate: args.allowPrivate, resolve: resolver }),
    rejectOnAbort(args.signal),
  ]);

  const { type, timestamp, data } = delivery.payload;
  const body = JSON.stringify({ type, timestamp, data });
  let signed: ReturnType<typeof signatureHeaders>;
  try {
    signed = signatureHeaders({
      secret: delivery.secret,
      msgId: delivery.msg_id,
      timestampSeconds: Math.floor(args.now.getTime() / 1000),
      body,
    });
  } catch (e) {
    throw new PermanentError('the endpoint secret is not a usable whsec_ secret', { code: 'invalid_secret', cause: e });
  }
  const headers = { 'content-type': 'application/json', 'user-agent': 'pg-cron-jobs-webhooks/1', ...signed };

  let res: Awaited<ReturnType<typeof postJson>>;
  try {
    res = await postJson(url, body, headers, { signal: args.signal, pinned, maxResponseBytes: MAX_RESPONSE_BYTES });
  } catch (e) {
    if (args.signal.aborted) {
      throw new RetryableError('no answer in time', { code: 'timeout', cooldownKey: true, cause: e });
    }
    const code = (e as { code?: string }).code ?? 'error';
    throw new RetryableError(`network error: ${code}`, { code: `network/${code}`, cooldownKey: true, cause: e });
  }
  if (res.status >= 200 && res.status < 300) return { httpStatus: res.status };
  const detail =
    res.status >= 300 && res.status < 400
      ? `redirects are not followed${res.location ? ` (Location: ${res.location.slice(0, 200)})` : ''}`
      : res.snippet.replace(/\s+/g, ' ').trim().slice(0, 200);
  throw new RetryableError(`HTTP ${res.status}${detail ? `: ${detail}` : ''}`, {
    code: `http_${res.status}`,
    // The receiver's wait, bounded (lib/http/retry-after.ts: at most 24 h here, 6 h by the webhook queue's policy).
    retryAfterMs: parseRetryAfter(res.retryAfter, args.now.getTime()),
    // This endpoint gets nothing more this run; its other deliveries wait for the next one.
    cooldownKey: true,
  });
}
