/**
 * Headers of every /admin response (the page, its server actions, and the 401/404/429 the door answers).
 *
 * Script: only this origin plus the per-request nonce. The App Router streams its payload in inline `<script>` tags;
 * Next reads the nonce from the request's CSP header (set by proxy.ts) and puts it on each of them, so no
 * 'unsafe-inline' is needed. `next dev` also needs 'unsafe-eval' (React rebuilds server error stacks with eval); a
 * production build does not get it.
 * Style: 'unsafe-inline' stays, because the root layout uses a style attribute and CSS cannot run script.
 */
export function adminContentSecurityPolicy(nonce: string, dev: boolean): string {
  return [
    "default-src 'self'",
    `script-src 'self' 'nonce-${nonce}'${dev ? " 'unsafe-eval'" : ''}`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

export function adminSecurityHeaders(nonce: string, dev: boolean): Record<string, string> {
  return {
    'content-security-policy': adminContentSecurityPolicy(nonce, dev),
    // frame-ancestors for browsers that predate it.
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
    'x-robots-tag': 'noindex, nofollow',
    'cache-control': 'no-store',
  };
}

export function newNonce(): string {
  return Buffer.from(crypto.randomUUID()).toString('base64');
}
