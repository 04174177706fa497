import { headers } from 'next/headers';
import { notFound } from 'next/navigation';
import { checkAdminAuthorization, clientAddress } from './auth.ts';

/**
 * The credentials check of the page and of every server action, from the request's own headers: proxy.ts guards the
 * door, but a server action is a POST anyone can send, so it proves itself again here.
 */
export async function adminRequest(): Promise<{ ok: true; open: boolean; address: string } | { ok: false }> {
  const h = await headers();
  const check = checkAdminAuthorization(h.get('authorization'));
  return check.ok ? { ok: true, open: check.open, address: clientAddress(h) } : { ok: false };
}

/** For the page: 404 unless the request carries the password (or /admin is open in development). */
export async function requireAdminPage(): Promise<{ open: boolean }> {
  const r = await adminRequest();
  if (!r.ok) notFound();
  return { open: r.open };
}
