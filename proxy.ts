// Next 16's `proxy` (formerly `middleware`; Node.js runtime by default): the door of /admin. It answers 401 with a
// Basic challenge, 404 when /admin is disabled, 429 when an address guessed too often, and adds the security headers.
// A proxy has no socket address: the throttle keys on x-forwarded-for only on Vercel or behind TRUSTED_PROXY, and
// puts every other request in one shared bucket (lib/admin/auth.ts clientAddress).
// The page and every server action check the credentials again themselves (lib/admin/session.ts): this file is the
// only place that can send a 401 challenge, not the only check.
import { type NextRequest, NextResponse } from 'next/server';
import { WWW_AUTHENTICATE } from './lib/admin/auth.ts';
import { adminSecurityHeaders, newNonce } from './lib/admin/security-headers.ts';
import { admitAdminRequest, LoginThrottle } from './lib/admin/throttle.ts';

const throttle = new LoginThrottle();

export async function proxy(request: NextRequest) {
  const nonce = newNonce();
  const security = adminSecurityHeaders(nonce, process.env.NODE_ENV === 'development');
  const gate = await admitAdminRequest(request.headers, throttle);
  if (!gate.ok) {
    const headers: Record<string, string> = { ...security, 'content-type': 'text/plain; charset=utf-8' };
    if (gate.status === 401) headers['www-authenticate'] = WWW_AUTHENTICATE;
    if (gate.status === 429) headers['retry-after'] = String(gate.retryAfterSec);
    const body = { 401: 'Unauthorized', 404: 'Not Found', 429: 'Too many wrong passwords; try again later' }[
      gate.status
    ];
    return new NextResponse(`${body}\n`, { status: gate.status, headers });
  }
  // Next takes the nonce for its own inline scripts from the request's CSP header.
  const requestHeaders = new Headers(request.headers);
  requestHeaders.set('content-security-policy', security['content-security-policy']!);
  const response = NextResponse.next({ request: { headers: requestHeaders } });
  for (const [name, value] of Object.entries(security)) response.headers.set(name, value);
  return response;
}

export const config = { matcher: ['/admin', '/admin/:path*'] };
