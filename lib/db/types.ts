/** The database port: everything the app and the jobs need from Postgres, over any of the three transports. */
export type Row = Record<string, unknown>;
export type Transport = 'pglite' | 'postgres' | 'supabase';

export interface Db {
  readonly transport: Transport;
  /**
   * Calls a SQL function in `public` with named arguments and returns its rows. A set-returning function gives one
   * row per element; a scalar function gives one row `{ <fn>: value }` (the shape `select * from fn()` has).
   * Arrays of plain values are passed as Postgres arrays; other objects and arrays as JSON (`jsonb` parameters).
   */
  rpc<T = Row>(fn: string, args?: Record<string, unknown>): Promise<T[]>;
  /** Raw SQL with positional parameters; only on transports that speak SQL (tests, migrations, benchmarks). */
  query?<T = Row>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Runs a script of several statements (simple protocol, no parameters): migrations, test fixtures. */
  exec?(script: string): Promise<void>;
  /** Runs several statements atomically; absent on supabase-js, where each SQL function is its own transaction. */
  transaction?<T>(fn: (tx: Db) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** One error type for every transport, carrying what Postgres said. */
export class DbError extends Error {
  readonly code: string;
  readonly detail: string | undefined;
  readonly hint: string | undefined;
  constructor(message: string, code: string, detail?: string, hint?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DbError';
    this.code = code;
    this.detail = detail || undefined;
    this.hint = hint || undefined;
  }
}

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

/** Function and argument names are interpolated into SQL: only plain lower-case identifiers are accepted. */
export function assertIdentifier(name: string): string {
  if (!IDENT.test(name)) throw new DbError(`invalid SQL identifier: ${JSON.stringify(name)}`, '42602');
  return name;
}

/** A function's input arguments, name → SQL type as `format_type` spells it (e.g. `integer[]`, `jsonb`). */
export type Signature = Map<string, string>;

/** Looks up the input arguments of `public.<fn>` (TABLE/OUT columns excluded). */
export const SIGNATURE_SQL = `
  select a.name::text as name, format_type(a.type, null) as type
    from pg_proc p
    cross join lateral unnest(
      p.proargnames,
      coalesce(p.proallargtypes, p.proargtypes::oid[]),
      coalesce(p.proargmodes, array_fill('i'::"char", array[cardinality(p.proargnames)]))
    ) as a(name, type, mode)
   where p.pronamespace = 'public'::regnamespace and p.proname = $1 and a.mode in ('i', 'b', 'v')`;

/**
 * Builds `select * from public.fn(a => $1::text::integer, b => $2::text::jsonb)`. Every parameter is sent as text and
 * cast by Postgres to the type the function declares, so a value means the same on every SQL transport as in a
 * PostgREST JSON body: arrays become Postgres arrays for array parameters and JSON for json/jsonb ones, booleans and
 * numbers their text. Undefined arguments take their default.
 */
export function buildRpcCall(
  fn: string,
  args: Record<string, unknown>,
  signature: Signature,
): { text: string; params: unknown[] } {
  const params: unknown[] = [];
  const named: string[] = [];
  for (const [key, value] of Object.entries(args)) {
    if (value === undefined) continue;
    const type = signature.get(assertIdentifier(key));
    if (!type) throw new DbError(`function public.${fn} has no argument ${key}`, '42883');
    params.push(toText(value, type));
    named.push(`${key} => $${params.length}::text::${type}`);
  }
  return { text: `select * from public.${assertIdentifier(fn)}(${named.join(', ')})`, params };
}

/** `{"a","b"}`: a Postgres array literal with every element quoted (NULL stays NULL). */
function pgArrayLiteral(values: unknown[]): string {
  return `{${values
    .map((v) =>
      v === null || v === undefined
        ? 'NULL'
        : `"${String(v instanceof Date ? v.toISOString() : v)
            .replace(/\\/g, '\\\\')
            .replace(/"/g, '\\"')}"`,
    )
    .join(',')}}`;
}

function toText(value: unknown, type: string): string | null {
  if (value === null) return null;
  if (type === 'json' || type === 'jsonb') return JSON.stringify(value);
  if (value instanceof Date) return value.toISOString();
  if (type.endsWith('[]') && Array.isArray(value)) return pgArrayLiteral(value);
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/**
 * The rpc of a SQL transport: looks each function's signature up once (cached per connection pool), then calls it.
 */
export function sqlRpc(
  query: <T = Row>(sql: string, params?: unknown[]) => Promise<T[]>,
  cache: Map<string, Promise<Signature>>,
) {
  return async <T = Row>(fn: string, args: Record<string, unknown> = {}): Promise<T[]> => {
    assertIdentifier(fn);
    let signature = cache.get(fn);
    if (!signature) {
      signature = query<{ name: string; type: string }>(SIGNATURE_SQL, [fn]).then((rows) => {
        if (rows.length === 0 && Object.keys(args).length > 0) {
          // Unknown function (or one without named arguments): let Postgres say which.
          cache.delete(fn);
        }
        return new Map(rows.map((r) => [r.name, r.type]));
      });
      cache.set(fn, signature);
      signature.catch(() => cache.delete(fn));
    }
    const sig = await signature;
    if (sig.size === 0 && Object.values(args).some((v) => v !== undefined)) {
      throw new DbError(`function public.${fn}(${Object.keys(args).join(', ')}) does not exist`, '42883');
    }
    const { text, params } = buildRpcCall(fn, args, sig);
    return query<T>(text, params);
  };
}

/** Timestamps come back as ISO strings on every transport (PostgREST sends strings; the drivers send Dates). */
export function normalizeRow<T>(row: Row): T {
  for (const key of Object.keys(row)) {
    const v = row[key];
    if (v instanceof Date) row[key] = v.toISOString();
  }
  return row as T;
}

export function toDbError(e: unknown): DbError {
  if (e instanceof DbError) return e;
  const err = e as { message?: string; code?: string; detail?: string; details?: string; hint?: string };
  const message = typeof err?.message === 'string' && err.message ? err.message : String(e);
  const code = typeof err?.code === 'string' && err.code ? err.code : 'XX000';
  return new DbError(message, code, err?.detail ?? err?.details, err?.hint, { cause: e });
}

/** Errors from the driver become DbError; an error the caller's own code threw inside a transaction passes unchanged. */
export function fromDriver(e: unknown): unknown {
  if (e instanceof DbError) return e;
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? toDbError(e) : e;
}
