import postgres from 'postgres';
import { envValue } from '../env.ts';
import { isTransactionPooler } from './pooler.ts';
import { type Db, fromDriver, normalizeRow, type Row, type Signature, sqlRpc, toDbError } from './types.ts';

export { isTransactionPooler } from './pooler.ts';

type Sql = postgres.Sql | postgres.TransactionSql;

function wrap(
  sql: Sql,
  close: () => Promise<void>,
  root?: postgres.Sql,
  signatures = new Map<string, Promise<Signature>>(),
): Db {
  const query = async <T = Row>(text: string, params: unknown[] = []): Promise<T[]> => {
    try {
      const rows = await sql.unsafe(text, params as postgres.ParameterOrJSON<never>[]);
      return rows.map((r) => normalizeRow<T>(r as Row));
    } catch (e) {
      throw toDbError(e);
    }
  };
  return {
    transport: 'postgres',
    query,
    exec: async (script: string) => {
      try {
        await sql.unsafe(script).simple();
      } catch (e) {
        throw toDbError(e);
      }
    },
    rpc: sqlRpc(query, signatures),
    transaction: root
      ? async <T>(fn: (tx: Db) => Promise<T>) => {
          try {
            return (await root.begin((tx) => fn(wrap(tx, async () => {}, undefined, signatures)))) as T;
          } catch (e) {
            throw fromDriver(e);
          }
        }
      : undefined,
    close,
  };
}

/** DATABASE_POOL_MAX (default 5): connections per instance; empty, 0, negative or not a number → the default. */
export function poolMax(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(envValue(env, 'DATABASE_POOL_MAX') ?? 5);
  return Number.isInteger(n) && n >= 1 ? Math.min(n, 100) : 5;
}

export function openPostgres(url: string, options: { max?: number } = {}): Db {
  const sql = postgres(url, {
    max: options.max ?? poolMax(),
    prepare: !isTransactionPooler(url),
    onnotice: () => {},
    // A serverless function is frozen between invocations: do not keep idle sockets the pooler will drop.
    idle_timeout: 20,
    connect_timeout: 10,
    // pg_stat_activity shows who is connected.
    connection: { application_name: 'pg-cron-jobs' },
  });
  return wrap(sql, () => sql.end({ timeout: 5 }), sql);
}
