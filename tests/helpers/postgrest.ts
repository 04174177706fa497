import { type HttpHandler, HttpResponse, http } from 'msw';
import { type Db, DbError, type Row } from '../../lib/db/types.ts';

/**
 * A stand-in for Supabase's PostgREST `POST {url}/rest/v1/rpc/<fn>`, executing each call on a real database (PGlite or
 * a PostgreSQL server through the port), so the supabase-js transport runs the same SQL functions as the others.
 *
 * What it emulates (PostgREST 12/13 as Supabase runs it):
 * - auth: `apikey` must be the service-role key (401 `Invalid API key` otherwise, as the API gateway answers) and
 *   `Authorization: Bearer <key>` too (401 PGRST301 otherwise). Roles, grants and RLS are not emulated: the call runs
 *   as the database user of `db`.
 * - function resolution by name and by the JSON body's keys, as PostgREST does: every key must be an argument and every
 *   argument without a default must be given; no match is 404 PGRST202, several are 300 PGRST203.
 * - arguments: each one is passed as text and cast to the argument's declared type (`format_type`): JSON text for
 *   `json`/`jsonb`, a Postgres array literal for array types, the string form otherwise.
 * - results, built by Postgres' own JSON functions like PostgREST does (so timestamps are ISO 8601 with an offset,
 *   `2026-03-10T12:00:00+00:00`, bigint and numeric are JSON numbers): a set-returning function of rows (RETURNS TABLE,
 *   SETOF composite) gives a JSON array of objects; SETOF scalar a JSON array of values; a single composite (OUT
 *   parameters, RETURNS composite) one object; a scalar the bare value (`null` for NULL); `void` 204 with no body.
 * - each call in its own transaction with `TimeZone` set to UTC (Supabase's default).
 * - errors: `{code, message, details, hint}` with the SQLSTATE as code (null details/hint when absent), and PostgREST's
 *   status mapping (23505/23503 → 409, 42883/42P01 → 404, 42501 → 403, P0001 → 400, 08*,53* → 503, most server-side
 *   classes → 500, anything else → 400).
 */
export interface PostgrestCall {
  fn: string;
  status: number;
  code?: string;
}

export interface PostgrestOptions {
  /** Called once per request that reached the stub (including refused ones). */
  onCall?: (call: PostgrestCall) => void;
}

interface FnInfo {
  retset: boolean;
  is_void: boolean;
  composite: boolean;
  argnames: string[] | null;
  argmodes: string[] | null;
  argtypes: string[];
  ndefaults: number;
}

interface InputArg {
  name: string;
  type: string;
  variadic: boolean;
  hasDefault: boolean;
}

interface Candidate {
  info: FnInfo;
  inputs: InputArg[];
  /** The result has named columns: RETURNS TABLE, OUT/INOUT parameters or a composite type. */
  named: boolean;
}

const CATALOG = `
  select p.proretset as retset,
         p.prorettype = 'pg_catalog.void'::pg_catalog.regtype as is_void,
         (t.typtype = 'c' or p.prorettype = 'pg_catalog.record'::pg_catalog.regtype) as composite,
         p.proargnames as argnames,
         p.proargmodes::text[] as argmodes,
         array(select pg_catalog.format_type(a.t, null)
                 from unnest(p.proargtypes::oid[]) with ordinality as a(t, i) order by a.i) as argtypes,
         p.pronargdefaults::integer as ndefaults
    from pg_catalog.pg_proc p
    join pg_catalog.pg_namespace n on n.oid = p.pronamespace
    join pg_catalog.pg_type t on t.oid = p.prorettype
   where n.nspname = 'public' and p.proname = $1 and p.prokind = 'f'
     and p.prorettype <> 'pg_catalog.trigger'::pg_catalog.regtype`;

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;

function toCandidate(info: FnInfo): Candidate {
  const modes = info.argmodes ?? info.argtypes.map(() => 'i');
  const names = info.argnames ?? [];
  const inputs: InputArg[] = [];
  let k = 0;
  modes.forEach((mode, i) => {
    if (mode !== 'i' && mode !== 'b' && mode !== 'v') return;
    inputs.push({
      name: names[i] ?? '',
      type: info.argtypes[k] ?? 'unknown',
      variadic: mode === 'v',
      hasDefault: false,
    });
    k++;
  });
  inputs.forEach((arg, i) => {
    arg.hasDefault = i >= inputs.length - info.ndefaults;
  });
  const named = info.composite || modes.some((m) => m === 'o' || m === 'b' || m === 't');
  return { info, inputs, named };
}

/** `{"a","b"}`, nested arrays as sub-arrays, objects as quoted JSON, NULL for null. */
function arrayLiteral(values: unknown[]): string {
  const item = (v: unknown): string => {
    if (v === null || v === undefined) return 'NULL';
    if (Array.isArray(v)) return arrayLiteral(v);
    const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
    return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  };
  return `{${values.map(item).join(',')}}`;
}

/** A JSON value as the text form of an argument of the given SQL type. */
function toTextParam(value: unknown, type: string): string | null {
  if (value === null || value === undefined) return null;
  if (type === 'json' || type === 'jsonb') return JSON.stringify(value);
  if (type.endsWith('[]') && Array.isArray(value)) return arrayLiteral(value);
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** PostgREST's SQLSTATE → HTTP status table. */
export function postgrestStatus(code: string): number {
  if (code === '23503' || code === '23505') return 409;
  if (code === '42883' || code === '42P01') return 404;
  if (code === '42501') return 403;
  if (code === '25006') return 405;
  if (code === 'P0001') return 400;
  if (code === '42P17') return 500;
  if (/^(08|53)/.test(code)) return 503;
  if (/^(0L|0P|28)/.test(code)) return 403;
  if (/^(09|25|2D|38|39|3B|40|54|55|57|58|F0|HV|P0|XX)/.test(code)) return 500;
  return 400;
}

const errorBody = (code: string, message: string, details?: string | null, hint?: string | null) => ({
  code,
  details: details ?? null,
  hint: hint ?? null,
  message,
});

function notFound(fn: string, keys: string[]): { status: number; body: ReturnType<typeof errorBody> } {
  const sorted = [...keys].sort();
  const params = sorted.length > 0 ? `(${sorted.join(', ')})` : ' without parameters';
  const searched = sorted.length > 0 ? `with parameters ${sorted.join(', ')}` : 'without parameters';
  return {
    status: 404,
    body: errorBody(
      'PGRST202',
      `Could not find the function public.${fn}${params} in the schema cache`,
      `Searched for the function public.${fn} ${searched} or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache.`,
    ),
  };
}

async function run(db: Db, text: string, params: unknown[]): Promise<Row[]> {
  if (!db.query) throw new Error(`the PostgREST stub needs a SQL transport, not ${db.transport}`);
  if (!db.transaction) return db.query(text, params);
  return db.transaction(async (tx) => {
    await tx.query!(`select pg_catalog.set_config('TimeZone', 'UTC', true)`);
    return tx.query!(text, params);
  });
}

/** Executes one RPC the way PostgREST would and returns the HTTP answer. */
async function callRpc(db: Db, fn: string, args: Record<string, unknown>): Promise<{ status: number; body?: unknown }> {
  if (!db.query) throw new Error(`the PostgREST stub needs a SQL transport, not ${db.transport}`);
  const keys = Object.keys(args);
  const infos = await db.query<FnInfo>(CATALOG, [fn]);
  const matches = infos
    .map(toCandidate)
    .filter(
      (c) =>
        keys.every((k) => c.inputs.some((a) => a.name === k)) &&
        c.inputs.every((a) => a.hasDefault || keys.includes(a.name)),
    );
  const [match] = matches;
  if (!match) return notFound(fn, keys);
  if (matches.length > 1) {
    return {
      status: 300,
      body: errorBody(
        'PGRST203',
        `Could not choose the best candidate function between: ${matches
          .map((m) => `public.${fn}(${m.inputs.map((a) => `${a.name} => ${a.type}`).join(', ')})`)
          .join(', ')}`,
        null,
        'Try renaming the parameters or the function itself in the database so function overloading can be resolved',
      ),
    };
  }

  const params: unknown[] = [];
  const named: string[] = [];
  for (const arg of match.inputs) {
    if (!(arg.name in args)) continue;
    params.push(toTextParam(args[arg.name], arg.type));
    named.push(`${quoteIdent(arg.name)} => ${arg.variadic ? 'variadic ' : ''}$${params.length}::text::${arg.type}`);
  }
  const call = `public.${quoteIdent(fn)}(${named.join(', ')})`;
  const { info } = match;

  if (info.is_void) {
    await run(db, `select ${call}`, params);
    return { status: 204 };
  }
  let text: string;
  if (info.retset && match.named)
    text = `select coalesce(json_agg(_r), '[]')::text as body from (select * from ${call}) _r`;
  else if (info.retset) text = `select coalesce(json_agg(_r.v), '[]')::text as body from ${call} as _r(v)`;
  else if (match.named)
    text = `select coalesce((json_agg(_r) -> 0)::text, 'null') as body from (select * from ${call}) _r`;
  else text = `select coalesce(to_json(${call})::text, 'null') as body`;
  const [row] = await run(db, text, params);
  return { status: 200, body: (row?.body as string | undefined) ?? 'null' };
}

function respond(status: number, body?: unknown): Response {
  if (status === 204) return new HttpResponse(null, { status });
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return new HttpResponse(text, { status, headers: { 'Content-Type': 'application/json; charset=utf-8' } });
}

/** `server.use(...postgrestHandlers('http://supabase.test', key, db))`: `openSupabase(url, key)` then talks to `db`. */
export function postgrestHandlers(
  baseUrl: string,
  serviceKey: string,
  db: Db,
  options: PostgrestOptions = {},
): HttpHandler[] {
  const base = baseUrl.replace(/\/+$/, '');
  return [
    http.post(`${base}/rest/v1/rpc/:fn`, async ({ request, params }) => {
      const fn = String(params.fn ?? '');
      const answer = (status: number, body?: unknown, code?: string) => {
        options.onCall?.({ fn, status, ...(code ? { code } : {}) });
        return respond(status, body);
      };

      if (request.headers.get('apikey') !== serviceKey) {
        return answer(401, {
          message: 'Invalid API key',
          hint: 'Double check your Supabase `anon` or `service_role` API key.',
        });
      }
      if (request.headers.get('authorization') !== `Bearer ${serviceKey}`) {
        return answer(401, errorBody('PGRST301', 'No suitable key or wrong key type'), 'PGRST301');
      }
      const profile = request.headers.get('content-profile');
      if (profile && profile !== 'public') {
        const body = errorBody(
          'PGRST106',
          `Invalid schema: ${profile}`,
          null,
          'Only the following schemas are exposed: public',
        );
        return answer(406, body, 'PGRST106');
      }

      let args: unknown;
      try {
        const raw = await request.text();
        args = raw.trim() === '' ? {} : JSON.parse(raw);
      } catch {
        return answer(400, errorBody('PGRST102', 'Empty or invalid json'), 'PGRST102');
      }
      if (args === null || typeof args !== 'object' || Array.isArray(args)) {
        return answer(400, errorBody('PGRST102', 'Empty or invalid json'), 'PGRST102');
      }

      try {
        const { status, body } = await callRpc(db, fn, args as Record<string, unknown>);
        const code = (body as { code?: string } | undefined)?.code;
        return answer(status, body, typeof code === 'string' ? code : undefined);
      } catch (e) {
        const err = e instanceof DbError ? e : new DbError(e instanceof Error ? e.message : String(e), 'XX000');
        return answer(postgrestStatus(err.code), errorBody(err.code, err.message, err.detail, err.hint), err.code);
      }
    }),
  ];
}
