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

/** The one throttle bucket (and log label) of every request whose address nobody vouches for. */
export const SHARED_BUCKET = 'untrusted';
/** An IPv4 or IPv6 address as proxies write it, bounded: anything else is not an address we can key on. */
const ADDRESS = /^[0-9A-Fa-f:.]{2,45}$/;

/**
 * How many proxies in front of the app append to `x-forwarded-for`, i.e. which entry from the right is the client:
 * TRUSTED_PROXY=N (a whole number, 1..10). 0, unset or anything else: no proxy is trusted.
 */
function trustedHops(env: NodeJS.ProcessEnv): number {
  const n = Number(env.TRUSTED_PROXY?.trim());
  return Number.isInteger(n) && n >= 1 && n <= 10 ? n : 0;
}

/**
 * The client's address, only when something we trust wrote it; otherwise SHARED_BUCKET.
 * - On Vercel (`VERCEL` set) the edge overwrites `x-forwarded-for` with the client's public IP and drops what the
 *   client sent ("to prevent IP spoofing", Vercel's request-headers docs): its first entry is the client.
 * - Behind your own proxies (`TRUSTED_PROXY=N`), each appends the address it saw, so the client is the N-th entry
 *   from the right; entries left of it are whatever the client wrote.
 * - Anywhere else the header is the client's own claim. The socket address would be the answer, but Next's proxy
 *   (where the throttle runs) is handed headers only, and Next fills `x-forwarded-for` from the socket only when the
 *   client did not send one: so every such request shares one bucket, and guessing from many claimed addresses
 *   cannot multiply the free tries.
 */
export function clientAddress(headers: Headers, env: NodeJS.ProcessEnv = process.env): string {
  const hops = trustedHops(env);
  const onVercel = Boolean(env.VERCEL?.trim());
  if (!hops && !onVercel) return SHARED_BUCKET;
  const entries = (headers.get('x-forwarded-for') ?? '').split(',').map((e) => e.trim());
  // Fewer entries than trusted hops: the request did not come through all the proxies, so nobody vouches for it.
  const entry = hops ? (entries.length >= hops ? entries[entries.length - hops] : undefined) : entries[0];
  return entry && ADDRESS.test(entry) ? entry : SHARED_BUCKET;
}

export const WWW_AUTHENTICATE = 'Basic realm="pg-cron-jobs admin", charset="UTF-8"';
