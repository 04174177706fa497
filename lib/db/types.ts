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

/** Builds `select * from public.fn(a => $1, b => $2)` and its parameters; undefined arguments take their default. */
export function buildRpcCall(
  fn: string,
  args: Record<string, unknown> = {},
  options: { rawJson?: boolean } = {},
): { text: string; params: unknown[] } {
  const params: unknown[] = [];
  const named: string[] = [];
  for (const [key, value] of Object.entries(args)) {
    if (value === undefined) continue;
    params.push(toSqlParam(value, options.rawJson ?? false));
    named.push(`${assertIdentifier(key)} => $${params.length}`);
  }
  return { text: `select * from public.${assertIdentifier(fn)}(${named.join(', ')})`, params };
}

const isPrimitive = (v: unknown) => v === null || ['string', 'number', 'boolean', 'bigint'].includes(typeof v);

/** `{"a","b"}`: a Postgres array literal with every element quoted (NULL stays NULL). */
function pgArrayLiteral(values: unknown[]): string {
  return `{${values.map((v) => (v === null ? 'NULL' : `"${String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`)).join(',')}}`;
}

/**
 * Parameters as PostgREST would pass them: an array of plain values becomes a Postgres array (for `text[]`,
 * `integer[]` parameters), any other object or array becomes JSON (for `jsonb` parameters).
 */
function toSqlParam(value: unknown, rawJson: boolean): unknown {
  if (value === null) return null;
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value) && value.every(isPrimitive)) return pgArrayLiteral(value);
  // postgres.js learns each parameter's type first and serializes json/jsonb itself: give it the object.
  if (typeof value === 'object') return rawJson ? value : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return value;
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
