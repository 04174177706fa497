import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { prepareDemoDatabase } from '../../scripts/seed-demo.ts';

/**
 * Starts the real app for a test: `next dev` (no build needed) or `next start` (on an existing build), on a free port,
 * in its own dist dir (NEXT_DIST_DIR, read by next.config.ts) so it never collides with a developer's `next dev`.
 *
 *   const app = await startNextServer({ env: { CRON_SECRET: '…', ADMIN_PASSWORD: '…' } });
 *   await fetch(`${app.url}/api/health`);
 *   await app.stop();
 *
 * The app's database, secrets and provider come only from `env`, never from this process or .env.local (a test must
 * not write into the developer's database): without DATABASE_URL or SUPABASE_URL it gets an embedded PGlite in a
 * fresh temporary directory, seeded with the demo data unless SEED_DEMO=0 (by scripts/seed-demo.ts before the server
 * starts, as `npm run dev` does: the app itself never seeds).
 */
export interface NextServerOptions {
  mode?: 'dev' | 'start';
  env?: Record<string, string | undefined>;
  port?: number;
  /**
   * A stable name keeps the compile cache between runs in `.next-test-<name>` (one server per name at a time).
   * Without it a fresh `.next-test-<random>` is used and removed on stop. `start` uses `.next` unless distDir is given.
   */
  name?: string;
  distDir?: string;
  /** Polled until it answers (any status); the first request also compiles it. */
  readyPath?: string;
  timeoutMs?: number;
  /** Print the server's output as it comes (or set NEXT_SERVER_LOG=1). */
  verbose?: boolean;
}

export interface NextServer {
  url: string;
  port: number;
  distDir: string;
  /** The embedded database's directory, when the app uses one. */
  pgliteDir: string | null;
  /** The server's output so far (stdout and stderr, last 400 lines). */
  output(): string;
  /** `kill -9` of the whole server (a crash: nothing runs after it), then waits until it is gone. */
  crash(): Promise<void>;
  stop(): Promise<void>;
}

const ROOT = path.resolve(import.meta.dirname, '..', '..');
/** Never inherited: the app under test gets these only from options.env (an empty value also masks .env.local). */
const ISOLATED = [
  'DATABASE_URL',
  'SUPABASE_URL',
  'SUPABASE_SERVICE_ROLE_KEY',
  'PGLITE_DIR',
  'CRON_SECRET',
  'ADMIN_PASSWORD',
  'UNIPILE_DSN',
  'UNIPILE_API_KEY',
  'SEED_DEMO',
  'APP_URL',
  'HEALTH_GRACE_MINUTES',
];
/** `next dev` rewrites these to mention its dist dir; they are shared with everyone, so they are put back. */
const REWRITTEN_BY_NEXT_DEV = ['tsconfig.json', 'next-env.d.ts'];
const SETUP_LOCK = path.join(ROOT, '.next-test.lock');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function startNextServer(options: NextServerOptions = {}): Promise<NextServer> {
  const mode = options.mode ?? 'dev';
  const distDir =
    options.distDir ?? (mode === 'start' ? '.next' : `.next-test-${options.name ?? randomBytes(4).toString('hex')}`);
  const removeDistDir = mode === 'dev' && !options.distDir && !options.name;
  if (mode === 'start' && !fs.existsSync(path.join(ROOT, distDir, 'BUILD_ID')))
    throw new Error(`next start needs a build in ${distDir}: run NEXT_DIST_DIR=${distDir} npm run build first`);
  const port = options.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const verbose = options.verbose ?? process.env.NEXT_SERVER_LOG === '1';

  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  for (const k of ['NODE_ENV', '__NEXT_PROCESSED_ENV', 'VITEST', 'VITEST_MODE', 'VITEST_POOL_ID', 'VITEST_WORKER_ID'])
    delete env[k];
  for (const k of ISOLATED) env[k] = '';
  for (const [k, v] of Object.entries(options.env ?? {})) env[k] = v ?? '';
  let pgliteDir: string | null = null;
  let tempDir: string | null = null;
  if (!env.DATABASE_URL && !env.SUPABASE_URL && !env.PGLITE_DIR) {
    // A parent of its own: PGlite keeps its lock file beside the data directory.
    tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'next-test-'));
    pgliteDir = path.join(tempDir, 'pglite');
    env.PGLITE_DIR = pgliteDir;
  }
  Object.assign(env, { PORT: String(port), NEXT_DIST_DIR: distDir, NEXT_TELEMETRY_DISABLED: '1' });
  // Migrated and seeded here, then closed (PGlite: one process per directory) before the server opens it.
  try {
    await prepareDemoDatabase(env as unknown as NodeJS.ProcessEnv);
  } catch (e) {
    if (tempDir) fs.rmSync(tempDir, { recursive: true, force: true });
    throw e;
  }

  const lines: string[] = [];
  const record = (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    if (verbose) process.stderr.write(text);
    lines.push(...text.split('\n').filter(Boolean));
    if (lines.length > 400) lines.splice(0, lines.length - 400);
  };
  const output = () => lines.join('\n');

  // Serialise the moment `next dev` rewrites tsconfig.json/next-env.d.ts across test processes, then put them back.
  const guard = mode === 'dev' ? await holdSharedFiles(distDir) : null;
  const nextBin = path.join(ROOT, 'node_modules', 'next', 'dist', 'bin', 'next');
  const args = mode === 'dev' ? ['dev', '--port', String(port)] : ['start', '--port', String(port)];
  // Node 24 (this process), not whatever `node` is first on PATH; its own process group, so stop() ends it all.
  const child = spawn(process.execPath, [nextBin, ...args, '--hostname', '127.0.0.1'], {
    cwd: ROOT,
    env: env as unknown as NodeJS.ProcessEnv, // without NODE_ENV on purpose: next sets it
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', record);
  child.stderr?.on('data', record);
  const killOnExit = () => kill(child, 'SIGKILL');
  process.on('exit', killOnExit);

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    process.off('exit', killOnExit);
    await terminate(child);
    guard?.release();
    const rm = (dir: string) => fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
    if (tempDir) rm(tempDir);
    if (removeDistDir) rm(path.join(ROOT, distDir));
  };

  try {
    await waitUntilAnswering(
      `${url}${options.readyPath ?? '/api/health'}`,
      child,
      options.timeoutMs ?? 240_000,
      output,
    );
    // next dev rewrites the shared files during its set-up, which can finish after "Ready" but before the first answer.
    guard?.release();
  } catch (e) {
    await stop();
    throw e;
  }
  const crash = async () => {
    const exited =
      child.exitCode !== null || child.signalCode !== null
        ? Promise.resolve()
        : new Promise<void>((r) => child.once('exit', () => r()));
    kill(child, 'SIGKILL');
    await exited;
    await stop();
  };
  return { url, port, distDir, pgliteDir, output, crash, stop };
}

/** Signals the whole group: next dev runs its server in a worker process of its own. */
function kill(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid !== undefined) signalGroup(child.pid, signal);
}

async function terminate(child: ChildProcess): Promise<void> {
  const exited =
    child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve()
      : new Promise<void>((r) => child.once('exit', () => r()));
  kill(child, 'SIGTERM');
  const timer = setTimeout(() => kill(child, 'SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
  // The worker may outlive its leader by a moment: wait until the whole group is gone (the port, the database files).
  const pid = child.pid;
  if (pid === undefined) return;
  for (let i = 0; i < 50 && groupAlive(pid); i++) {
    if (i === 25) signalGroup(pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 100));
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

async function waitUntilAnswering(target: string, child: ChildProcess, timeoutMs: number, output: () => string) {
  const until = Date.now() + timeoutMs;
  while (true) {
    try {
      await fetch(target, { signal: AbortSignal.timeout(Math.max(1_000, until - Date.now())) });
      return;
    } catch {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`next exited (${child.exitCode ?? child.signalCode}) before answering:\n${output()}`);
      if (Date.now() > until) throw new Error(`no answer from ${target} within ${timeoutMs / 1000} s:\n${output()}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/**
 * A cross-process lock around next dev's set-up, and the shared files as they were before it. Releasing puts back each
 * file that now mentions this server's dist dir; stop() releases again, in case Next rewrote one after the first answer.
 */
async function holdSharedFiles(distDir: string): Promise<{ release: () => void }> {
  const until = Date.now() + 300_000;
  while (true) {
    try {
      fs.writeFileSync(SETUP_LOCK, String(process.pid), { flag: 'wx' });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = Number.parseInt(readOrNull(SETUP_LOCK) ?? '', 10);
      if (!Number.isFinite(owner) || !alive(owner)) fs.rmSync(SETUP_LOCK, { force: true });
      else if (Date.now() > until) throw new Error(`${SETUP_LOCK} is held by process ${owner}`);
      else await new Promise((r) => setTimeout(r, 200));
    }
  }
  forgetDeadServers();
  const before = new Map(REWRITTEN_BY_NEXT_DEV.map((f) => [path.join(ROOT, f), readOrNull(path.join(ROOT, f))]));
  let locked = true;
  return {
    release() {
      for (const [file, content] of before) {
        const now = readOrNull(file);
        if (content !== null && now !== null && now !== content && now.includes(`${distDir}/`))
          fs.writeFileSync(file, content);
      }
      if (locked && readOrNull(SETUP_LOCK) === String(process.pid)) fs.rmSync(SETUP_LOCK, { force: true });
      locked = false;
    },
  };
}

/**
 * A test process that was killed never put the shared files back: drop what they say about `.next-test-*` dirs that no
 * longer exist (tsconfig.json back to the committed bytes when nothing else differs), so the next run starts clean.
 */
function forgetDeadServers(): void {
  const gone = (text: string) =>
    [...new Set(text.match(/\.next-test-[a-z0-9-]+/g) ?? [])].filter((d) => !fs.existsSync(path.join(ROOT, d)));
  const envFile = path.join(ROOT, 'next-env.d.ts');
  const envText = readOrNull(envFile);
  if (envText && gone(envText).length > 0) {
    let fixed = envText;
    for (const d of gone(envText)) fixed = fixed.replaceAll(`./${d}/`, './.next/');
    fs.writeFileSync(envFile, fixed);
  }
  const tsFile = path.join(ROOT, 'tsconfig.json');
  const tsText = readOrNull(tsFile);
  const stale = tsText ? gone(tsText) : [];
  if (!tsText || stale.length === 0) return;
  let config: { include?: string[] };
  try {
    config = JSON.parse(tsText);
  } catch {
    return; // JSON with comments: leave it to a person
  }
  config.include = config.include?.filter((p) => !stale.some((d) => p.startsWith(`${d}/`)));
  let committed: string | null = null;
  try {
    committed = execFileSync('git', ['show', 'HEAD:tsconfig.json'], { cwd: ROOT, encoding: 'utf8' });
  } catch {
    // not a git checkout
  }
  const same = committed !== null && JSON.stringify(JSON.parse(committed)) === JSON.stringify(config);
  fs.writeFileSync(tsFile, same ? committed! : `${JSON.stringify(config, null, 2)}\n`);
}

function readOrNull(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
