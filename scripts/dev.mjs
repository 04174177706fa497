// npm run dev: the Next dev server on the embedded database plus the local cron runner, one command, one Ctrl-C.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
// Node 24 strips the types of the .ts modules imported here, as it does for scripts/*.ts.
import { resolveDbConfig } from '../lib/db/index.ts';
import { prepareDemoDatabase } from './seed-demo.ts';

const ENV_FILE = '.env.local';
// The files next dev reads, highest priority first (loadEnvFile never overrides a variable already set), so this
// process sees the same database choice as the server it starts.
for (const file of ['.env.development.local', ENV_FILE, '.env.development', '.env'])
  if (fs.existsSync(file)) process.loadEnvFile(file);
if (!process.env.CRON_SECRET) {
  const secret = randomBytes(24).toString('hex');
  fs.appendFileSync(ENV_FILE, `\n# Created by npm run dev for local use only.\nCRON_SECRET=${secret}\n`);
  process.env.CRON_SECRET = secret;
  console.log(`dev: wrote a development CRON_SECRET to ${ENV_FILE}`);
}
const port = process.env.PORT || '3000';
const env = { ...process.env, PORT: port };

// The embedded database is prepared here, before next dev opens it: migrated, and seeded with the demo data when
// empty (SEED_DEMO=0 keeps it empty). PGlite allows one process per directory, so this process closes it (releasing
// its lock) before the server starts; a directory another process holds stops here with that process named.
let demo;
try {
  demo = await prepareDemoDatabase(process.env);
} catch (e) {
  console.error(`dev: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}
const seeding = demo?.seeded ? 'demo data seeded' : process.env.SEED_DEMO === '0' ? 'SEED_DEMO=0' : 'already has data';
const database = demo
  ? `the embedded PGlite in ${demo.dir} (${demo.applied.length} migrations applied, ${seeding})`
  : resolveDbConfig(process.env).describe;
console.log(`dev: http://localhost:${port} on ${database}; the local cron runner starts once the app answers`);
const bin = (name) => `node_modules/.bin/${name}`;

const children = [
  spawn(bin('next'), ['dev', '--port', port], { stdio: 'inherit', env }),
  spawn(process.execPath, ['scripts/cron.ts'], { stdio: 'inherit', env }),
];

let stopping = false;
function stop(code) {
  if (stopping) return;
  stopping = true;
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  setTimeout(() => process.exit(code), 3000).unref();
}
for (const c of children) c.on('exit', (code) => stop(code ?? 0));
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));
