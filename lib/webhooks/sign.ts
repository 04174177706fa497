import { Webhook } from 'standardwebhooks';

/**
 * The Standard Webhooks headers of one attempt: `webhook-id` (the message id, the same on every retry, for the
 * receiver's dedupe), `webhook-timestamp` (this attempt, unix seconds: receivers refuse stale ones) and
 * `webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>" under the base64-decoded whsec_ secret>`.
 */
export function signatureHeaders(args: {
  secret: string;
  msgId: string;
  timestampSeconds: number;
  body: string;
}): Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature', string> {
  const signature = new Webhook(args.secret).sign(args.msgId, new Date(args.timestampSeconds * 1000), args.body);
  return {
    'webhook-id': args.msgId,
    'webhook-timestamp': String(args.timestampSeconds),
    'webhook-signature': signature,
  };
}
