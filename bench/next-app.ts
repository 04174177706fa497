import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort } from './stub-unipile.ts';

/** The bench builds into its own dist dir (next.config.ts reads NEXT_DIST_DIR; `.next-*` is git-ignored). */
export const DIST_DIR = '.next-bench';
const ROOT = process.cwd();
const NEXT_BIN = path.join(ROOT, 'node_modules', 'next', 'dist', 'bin', 'next');
/** What a production build is made from: a build older than any of these is rebuilt. */
const SOURCES = ['app', 'lib', 'jobs', 'next.config.ts', 'package.json', 'proxy.ts'];

function newestMtime(p: string): number {
  const full = path.join(ROOT, p);
  if (!fs.existsSync(full)) return 0;
  const st = fs.statSync(full);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const entry of fs.readdirSync(full)) newest = Math.max(newest, newestMtime(path.join(p, entry)));
  return newest;
}

export interface BuildInfo {
  built: boolean;
  ms: number;
  buildId: string;
}

/**
 * `next build` into DIST_DIR unless a build there is newer than every source file. `next build` may add its dist
 * dir's types to tsconfig.json's include list; that file is not the bench's, so such an edit is undone.
 */
export async function ensureBuild(log: (line: string) => void): Promise<BuildInfo> {
  const idFile = path.join(ROOT, DIST_DIR, 'BUILD_ID');
  if (fs.existsSync(idFile) && fs.statSync(idFile).mtimeMs > Math.max(...SOURCES.map(newestMtime))) {
    return { built: false, ms: 0, buildId: fs.readFileSync(idFile, 'utf8').trim() };
  }
  log(`  next build into ${DIST_DIR} …`);
  const tsconfigPath = path.join(ROOT, 'tsconfig.json');
  const tsconfigBefore = fs.readFileSync(tsconfigPath, 'utf8');
  const started = performance.now();
  const output: string[] = [];
  const child = spawn(process.execPath, [NEXT_BIN, 'build'], {
    cwd: ROOT,
    env: { ...process.env, NEXT_DIST_DIR: DIST_DIR, NEXT_TELEMETRY_DISABLED: '1', NODE_ENV: 'production' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  restoreTsconfig(tsconfigPath, tsconfigBefore, log);
  if (code !== 0) throw new Error(`next build failed (exit ${code}):\n${output.join('').slice(-4000)}`);
  return { built: true, ms: performance.now() - started, buildId: fs.readFileSync(idFile, 'utf8').trim() };
}

function restoreTsconfig(file: string, before: string, log: (line: string) => void): void {
  const after = fs.readFileSync(file, 'utf8');
  if (after === before) return;
  try {
    const a = JSON.parse(after) as { include?: string[] };
    const b = JSON.parse(before) as { include?: string[] };
    a.include = a.include?.filter((p) => !p.startsWith(DIST_DIR));
    if (JSON.stringify(a) === JSON.stringify(b)) {
      fs.writeFileSync(file, before);
      return;
    }
  } catch {
    // fall through to the warning
  }
  log('  warning: tsconfig.json changed during next build (not only by the bench dist dir); left as is');
}

const running = new Set<() => Promise<void>>();

/** Stops every server this process started (Ctrl-C, or a section that failed half-way). */
export async function stopAllServers(): Promise<void> {
  await Promise.all([...running].map((stop) => stop()));
}

export interface NextServer {
  url: string;
  stop(): Promise<void>;
  output(): string;
}

/** This process's environment without the app's own settings (the bench sets those it wants explicitly). */
function baseEnv(): NodeJS.ProcessEnv {
  const app = /^(DM_|UNIPILE_|SUPABASE_|DATABASE_|PGLITE_|SANDBOX_|PROVIDER_|JOB_|CRON_SECRET|LOG_DEBUG|SEED_DEMO)/;
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !app.test(k))) as NodeJS.ProcessEnv;
}

/** `next start` on a free port with `env` on top of this process's environment; resolves once it answers HTTP. */
export async function startNext(env: Record<string, string>): Promise<NextServer> {
  const port = await freePort();
  const output: string[] = [];
  const child: ChildProcess = spawn(process.execPath, [NEXT_BIN, 'start', '-p', String(port), '-H', '127.0.0.1'], {
    cwd: ROOT,
    env: { ...baseEnv(), NEXT_DIST_DIR: DIST_DIR, NEXT_TELEMETRY_DISABLED: '1', NODE_ENV: 'production', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so stop() ends the server and anything it spawned, and nothing else.
    detached: true,
  });
  const keep = (d: Buffer) => {
    output.push(d.toString());
    if (output.length > 500) output.splice(0, output.length - 500);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    running.delete(stop);
    if (exited || child.pid === undefined) return;
    const gone = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    process.kill(-child.pid, 'SIGTERM');
    const timer = setTimeout(() => {
      if (!exited && child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    }, 5000);
    await gone;
    clearTimeout(timer);
  };
  running.add(stop);
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) throw new Error(`next start exited:\n${output.join('').slice(-3000)}`);
    try {
      await fetch(`${url}/api/health`, { signal: AbortSignal.timeout(2000) });
      break;
    } catch {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`next start did not answer within 60 s:\n${output.join('').slice(-3000)}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return { url, stop, output: () => output.join('') };
}

/**
 * Cold start: spawns `next start` (a new process) and asks `path` until it answers; returns the time from the spawn
 * to the first byte of that answer (its status line and headers), the status, and stops the server.
 */
export async function coldStart(
  env: Record<string, string>,
  pathAndQuery: string,
  headers: Record<string, string>,
): Promise<{ ms: number; status: number }> {
  const port = await freePort();
  const started = performance.now();
  const child: ChildProcess = spawn(process.execPath, [NEXT_BIN, 'start', '-p', String(port), '-H', '127.0.0.1'], {
    cwd: ROOT,
    env: { ...baseEnv(), NEXT_DIST_DIR: DIST_DIR, NEXT_TELEMETRY_DISABLED: '1', NODE_ENV: 'production', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  const errors: string[] = [];
  child.stderr?.on('data', (d: Buffer) => errors.push(d.toString()));
  let exited = false;
  const gone = new Promise<void>((resolve) =>
    child.on('exit', () => {
      exited = true;
      resolve();
    }),
  );
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (exited) throw new Error(`next start exited:\n${errors.join('').slice(-3000)}`);
      try {
        const res = await fetch(`http://127.0.0.1:${port}${pathAndQuery}`, {
          headers,
          signal: AbortSignal.timeout(30_000),
        });
        const ms = performance.now() - started;
        await res.arrayBuffer();
        return { ms, status: res.status };
      } catch {
        if (Date.now() > deadline) throw new Error('next start did not answer within 60 s');
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  } finally {
    if (!exited && child.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
    await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
    if (!exited && child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
  }
}

/** Bytes of every file the route's trace lists (route.js.nft.json, paths relative to it) plus the route itself. */
export function tracedSize(route = 'app/api/cron/dm-queue/route.js'): { bytes: number; files: number; nft: string } {
  const js = path.join(ROOT, DIST_DIR, 'server', route);
  const nft = `${js}.nft.json`;
  const listed = (JSON.parse(fs.readFileSync(nft, 'utf8')) as { files: string[] }).files;
  const files = new Set([js, ...listed.map((f) => path.resolve(path.dirname(nft), f))]);
  let bytes = 0;
  for (const f of files) {
    try {
      const st = fs.statSync(f);
      if (st.isFile()) bytes += st.size;
    } catch {
      // a listed file that is gone (an optional dependency) weighs nothing
    }
  }
  return { bytes, files: files.size, nft: path.relative(ROOT, nft) };
}
