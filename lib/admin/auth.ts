import { safeEqual } from '../cron/auth.ts';

/**
 * Who may open /admin. `ADMIN_PASSWORD` set: HTTP Basic with that password (any user name). Unset: open in
 * development only (`next dev`), with a banner on the page; anywhere else the page does not exist (404), so a
 * deployment that forgot the variable shows nothing rather than everything.
 */
export type AdminAccess = { mode: 'password'; password: string } | { mode: 'open' } | { mode: 'disabled' };

export function adminAccess(env: NodeJS.ProcessEnv = process.env): AdminAccess {
  const password = env.ADMIN_PASSWORD;
  if (password) return { mode: 'password', password };
  return env.NODE_ENV === 'development' ? { mode: 'open' } : { mode: 'disabled' };
}

export type AdminCheck = { ok: true; open: boolean } | { ok: false; status: 401 | 404 };

/** The password of an `Authorization: Basic base64(user:password)` header, or null when it is not one. */
export function basicPassword(authorization: string | null): string | null {
  const m = /^Basic[ \t]+([A-Za-z0-9+/]+={0,2})[ \t]*$/i.exec(authorization ?? '');
  if (!m) return null;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon === -1 ? null : decoded.slice(colon + 1);
}

/** The credentials check alone (no throttling): what the page and every server action re-run. */
export function checkAdminAuthorization(
  authorization: string | null,
  env: NodeJS.ProcessEnv = process.env,
): AdminCheck {
  const access = adminAccess(env);
  if (access.mode === 'disabled') return { ok: false, status: 404 };
  if (access.mode === 'open') return { ok: true, open: true };
  const given = basicPassword(authorization);
  // safeEqual hashes both sides first: neither the length nor a shared prefix of the password leaks through timing.
  return given !== null && safeEqual(given, access.password) ? { ok: true, open: false } : { ok: false, status: 401 };
}

/** The client's address as the platform reports it (Vercel sets x-forwarded-for itself). */
export function clientAddress(headers: Headers): string {
  const forwarded = headers.get('x-forwarded-for')?.split(',')[0]?.trim();
  return forwarded || headers.get('x-real-ip')?.trim() || 'unknown';
}

export const WWW_AUTHENTICATE = 'Basic realm="pg-cron-jobs admin", charset="UTF-8"';
