// npm run dev: the Next dev server on the embedded database plus the local cron runner, one command, one Ctrl-C.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';

const ENV_FILE = '.env.local';
if (fs.existsSync(ENV_FILE)) process.loadEnvFile(ENV_FILE);
if (!process.env.CRON_SECRET) {
  const secret = randomBytes(24).toString('hex');
  fs.appendFileSync(ENV_FILE, `\n# Created by npm run dev for local use only.\nCRON_SECRET=${secret}\n`);
  process.env.CRON_SECRET = secret;
  console.log(`dev: wrote a development CRON_SECRET to ${ENV_FILE}`);
}
const port = process.env.PORT || '3000';
const env = { ...process.env, PORT: port };
const database = process.env.DATABASE_URL
  ? 'DATABASE_URL'
  : process.env.SUPABASE_URL
    ? 'SUPABASE_URL'
    : `the embedded PGlite in ${process.env.PGLITE_DIR || '.data/pglite'} (migrated and seeded on first use)`;
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
