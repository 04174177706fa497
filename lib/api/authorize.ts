import { checkBearer } from '../cron/auth.ts';

export type AuthResult = { ok: true } | { ok: false; status: 401 | 403 | 500; error: string };

/**
 * Who may call the app's own API (`/api/sync-jobs`). The default is a shared key, `Authorization: Bearer
 * $APP_API_KEY`, compared in constant time; APP_API_KEY unset, empty or under 16 characters refuses every call with 500
 * (fail closed, like CRON_SECRET). An app with its own users replaces the body of this one function with its session
 * check (cookies, a JWT, Supabase auth) and keeps the contract: `{ ok: true }` or a status and an error to answer with.
 */
export async function authorize(request: Request): Promise<AuthResult> {
  return checkBearer(request.headers.get('authorization'), process.env.APP_API_KEY, 'APP_API_KEY');
}

/** The response for a refused call: 401 carries `WWW-Authenticate` so clients know which scheme is expected. */
export function refusal(auth: Extract<AuthResult, { ok: false }>): Response {
  const headers: Record<string, string> = { 'cache-control': 'no-store' };
  if (auth.status === 401) headers['www-authenticate'] = 'Bearer';
  return Response.json({ error: auth.error }, { status: auth.status, headers });
}
