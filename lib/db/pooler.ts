/**
 * Supabase's transaction pooler (Supavisor, port 6543) cannot keep prepared statements across transactions.
 * `?pgbouncer=true` is the convention other clients use to say the same. A file of its own so that choosing the
 * transport (lib/deployment.ts) does not load postgres.js.
 */
export function isTransactionPooler(url: string): boolean {
  try {
    const u = new URL(url);
    return u.port === '6543' || u.searchParams.get('pgbouncer') === 'true';
  } catch {
    return false;
  }
}
