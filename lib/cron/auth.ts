import { createHash, timingSafeEqual } from 'node:crypto';

/** Vercel recommends a random string of at least 16 characters; anything shorter is refused (fail closed). */
export const MIN_SECRET_LENGTH = 16;

export type SecretCheck = { ok: true } | { ok: false; status: 401 | 500; error: string };

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * Constant-time comparison of `header` with `expected`: both are hashed first, so the comparison is of two equal-length
 * digests and neither the length nor a common prefix of the secret leaks through timing.
 */
export function safeEqual(header: string, expected: string): boolean {
  return timingSafeEqual(digest(header), digest(expected));
}

/**
 * `Authorization: Bearer <CRON_SECRET>`. No secret configured (unset, empty, or too short) means nothing runs:
 * `Bearer undefined` can never pass because there is no `undefined` secret to match.
 */
export function checkBearer(
  authorization: string | null,
  secret: string | undefined,
  name = 'CRON_SECRET',
): SecretCheck {
  if (!secret || secret.trim() === '') return { ok: false, status: 500, error: `${name} is not configured` };
  if (secret.length < MIN_SECRET_LENGTH) {
    return { ok: false, status: 500, error: `${name} is too short (at least ${MIN_SECRET_LENGTH} characters)` };
  }
  if (!authorization) return { ok: false, status: 401, error: 'unauthorized' };
  return safeEqual(authorization, `Bearer ${secret}`)
    ? { ok: true }
    : { ok: false, status: 401, error: 'unauthorized' };
}
