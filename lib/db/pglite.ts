import fs from 'node:fs';
import path from 'node:path';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { type Db, DbError, fromDriver, normalizeRow, type Row, type Signature, sqlRpc, toDbError } from './types.ts';

type Queryable = Pick<PGlite, 'query' | 'exec'> | Transaction;

function wrap(
  q: Queryable,
  close: () => Promise<void>,
  root?: PGlite,
  signatures = new Map<string, Promise<Signature>>(),
): Db {
  const query = async <T = Row>(sql: string, params: unknown[] = []): Promise<T[]> => {
    try {
      const res = await q.query<Row>(sql, params);
      return res.rows.map((r) => normalizeRow<T>(r));
    } catch (e) {
      throw toDbError(e);
    }
  };
  return {
    transport: 'pglite',
    query,
    exec: async (script: string) => {
      try {
        await q.exec(script);
      } catch (e) {
        throw toDbError(e);
      }
    },
    rpc: sqlRpc(query, signatures),
    transaction: root
      ? <T>(fn: (tx: Db) => Promise<T>) =>
          root
            .transaction((tx) => fn(wrap(tx, async () => {}, undefined, signatures)))
            .catch((e) => {
              throw fromDriver(e);
            })
      : undefined,
    close,
  };
}

/** An in-memory PGlite: what each test file gets. */
export async function openMemoryPglite(): Promise<Db> {
  const pg = await PGlite.create();
  return wrap(pg, () => pg.close(), pg);
}

/**
 * PGlite persisted on disk. PGlite allows one process per data directory, and a second process silently loses writes,
 * so a lock file records the owner's pid and a second process is refused with a clear error.
 */
export async function openPersistentPglite(dataDir: string): Promise<Db> {
  const dir = path.resolve(dataDir);
  fs.mkdirSync(dir, { recursive: true });
  const lockFile = `${dir}.lock`;
  acquireLock(lockFile);
  const release = () => {
    try {
      if (readLockPid(lockFile) === process.pid) fs.unlinkSync(lockFile);
    } catch {
      // already gone
    }
  };
  process.once('exit', release);
  try {
    const pg = await PGlite.create(dir);
    return wrap(
      pg,
      async () => {
        await pg.close();
        release();
      },
      pg,
    );
  } catch (e) {
    release();
    throw toDbError(e);
  }
}

function readLockPid(lockFile: string): number | null {
  try {
    const pid = Number.parseInt(fs.readFileSync(lockFile, 'utf8').trim(), 10);
    return Number.isFinite(pid) ? pid : null;
  } catch {
    return null;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function describeProcess(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ').slice(0, 200);
  } catch {
    return 'unknown command';
  }
}

function acquireLock(lockFile: string): void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      // 'wx' fails when the file exists: the create is the lock.
      fs.writeFileSync(lockFile, String(process.pid), { flag: 'wx' });
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = readLockPid(lockFile);
      if (owner === process.pid) return;
      if (owner !== null && isAlive(owner)) {
        throw new DbError(
          `The embedded database ${lockFile.replace(/\.lock$/, '')} is in use by process ${owner} (${describeProcess(owner)}). ` +
            'PGlite allows one process per data directory: stop that process, or set DATABASE_URL to use a PostgreSQL server.',
          '55006',
        );
      }
      fs.rmSync(lockFile, { force: true }); // stale lock from a process that died
    }
  }
  throw new DbError(`could not take the lock ${lockFile}`, '55006');
}
