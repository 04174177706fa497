import { checkBearer } from '../cron/auth.ts';
import { basicPassword, clientAddress, WWW_AUTHENTICATE } from './auth.ts';
import { admitAdminRequest, type LoginThrottle } from './throttle.ts';

export type OperatorAuth =
  | { ok: true; via: 'api:cron-secret' | 'api:admin-password'; address: string }
  | { ok: false; status: 401 | 429 | 500; error: string; retryAfterSec?: number };

/**
 * Who may pause, resume and run jobs through /api/jobs: whoever holds CRON_SECRET (`Authorization: Bearer …`, the
 * scripts' and the runbooks' key) or ADMIN_PASSWORD (`Authorization: Basic …`, any user name, as /admin takes it).
 * Both are compared in constant time (safeEqual hashes both sides). Fail closed: with neither configured every call
 * is refused with 500; /admin's open development mode does not open the API. Password guesses go through the same
 * kind of throttle as /admin's door (per address where a trusted proxy names it, else one shared bucket); the
 * bearer is a long random secret, checked as the cron routes check it.
 */
export async function authorizeOperator(
  headers: Headers,
  throttle: LoginThrottle,
  env: NodeJS.ProcessEnv = process.env,
): Promise<OperatorAuth> {
  const authorization = headers.get('authorization');
  const address = clientAddress(headers, env);
  const bearer = checkBearer(authorization, env.CRON_SECRET);
  if (bearer.ok) return { ok: true, via: 'api:cron-secret', address };
  const password = env.ADMIN_PASSWORD;
  if (!password) {
    if (bearer.status === 500) return { ok: false, status: 500, error: `${bearer.error} (nor is ADMIN_PASSWORD)` };
    return { ok: false, status: 401, error: 'unauthorized' };
  }
  if (basicPassword(authorization) === null) return { ok: false, status: 401, error: 'unauthorized' };
  // ADMIN_PASSWORD is set, so this is /admin's password check (never its open mode), behind its throttle.
  const gate = await admitAdminRequest(headers, throttle, env);
  if (gate.ok) return { ok: true, via: 'api:admin-password', address };
  if (gate.status === 429)
    return {
      ok: false,
      status: 429,
      error: 'too many wrong passwords; try again later',
      retryAfterSec: gate.retryAfterSec,
    };
  return { ok: false, status: 401, error: 'unauthorized' };
}

/** The refusal as a response: 401 names both schemes it takes, 429 says when to come back. */
export function operatorRefusal(auth: Extract<OperatorAuth, { ok: false }>): Response {
  const headers: Record<string, string> = { 'cache-control': 'no-store' };
  if (auth.status === 401) headers['www-authenticate'] = `Bearer, ${WWW_AUTHENTICATE}`;
  if (auth.status === 429 && auth.retryAfterSec) headers['retry-after'] = String(auth.retryAfterSec);
  return Response.json({ error: auth.error }, { status: auth.status, headers });
}
