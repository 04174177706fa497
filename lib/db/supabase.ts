import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import { assertIdentifier, type Db, DbError, type Row } from './types.ts';

/**
 * supabase-js over PostgREST: every call is `POST /rest/v1/rpc/<fn>`, each one its own transaction, which is why the
 * queue semantics live in SQL functions. PostgREST answers a JSON array for a set-returning function and a bare value
 * for a scalar one; both are turned into rows so callers see the same shape as on the SQL transports.
 */
export function openSupabase(url: string, serviceRoleKey: string, options: { fetch?: typeof fetch } = {}): Db {
  const client: SupabaseClient = createClient(url, serviceRoleKey, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    global: options.fetch ? { fetch: options.fetch } : undefined,
  });
  return {
    transport: 'supabase',
    async rpc<T = Row>(fn: string, args: Record<string, unknown> = {}): Promise<T[]> {
      const body: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(args)) {
        if (v === undefined) continue;
        body[assertIdentifier(k)] = v instanceof Date ? v.toISOString() : v;
      }
      const { data, error } = await client.rpc(assertIdentifier(fn), body);
      if (error) {
        throw new DbError(error.message || `rpc ${fn} failed`, error.code || 'XX000', error.details, error.hint, {
          cause: error,
        });
      }
      if (Array.isArray(data)) return data as T[];
      return [{ [fn]: data } as T];
    },
    async close() {
      await client.removeAllChannels();
    },
  };
}
