/**
 * What this deployment runs on, decided in one place from the environment: is it production, which database, which
 * LinkedIn provider, and what is misconfigured. The database port, the provider, the routes and /api/health all ask
 * here, so they can never disagree. Every answer is computed from the `env` it is given (a few string reads, no
 * cache), which keeps it true for tests that change the environment and costs nothing per request.
 *
 * The rule (issue 12): the embedded database and the sandbox provider are development parts. In production they run
 * only when chosen on purpose (`DATABASE=pglite`, `PROVIDER=sandbox`); otherwise a missing database or missing
 * Unipile credentials stop the jobs with the reason, instead of writing to a disk Vercel throws away at the next cold
 * start and marking real users' DMs `sent` without sending them.
 */
import path from 'node:path';
import { adminAccess } from './admin/auth.ts';
import { checkBearer } from './cron/auth.ts';
import { isTransactionPooler } from './db/pooler.ts';
import type { Transport } from './db/types.ts';

type Env = Record<string, string | undefined>;

/** An empty variable is an unset one (`.env` files and Vercel's dashboard both produce them). */
const value = (env: Env, name: string) => env[name]?.trim() || '';

/**
 * `next start` / `next build` (NODE_ENV=production), or any Vercel deployment, previews included (VERCEL=1, whose
 * functions run on an ephemeral disk too). `vercel dev` sets VERCEL_ENV=development and stays development.
 */
export function isProduction(env: Env = process.env): boolean {
  return env.NODE_ENV === 'production' || (value(env, 'VERCEL') !== '' && env.VERCEL_ENV !== 'development');
}

/** The error thrown by the database port and the provider when the deployment cannot run the jobs. */
export class DeploymentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeploymentError';
  }
}

export type DbConfig =
  | {
      transport: Transport;
      /** What is safe to print: never a password or key. */
      describe: string;
    }
  | { transport: null; describe: string; error: string };

export function pgliteDir(env: Env = process.env): string {
  // Only the embedded (local) database reads this path; keep it out of the deployment's file tracing.
  return path.resolve(/*turbopackIgnore: true*/ env.PGLITE_DIR || path.join(process.cwd(), '.data', 'pglite'));
}

function safeUrl(url: string): URL | null {
  try {
    return new URL(url);
  } catch {
    return null;
  }
}

/**
 * Which database: DATABASE_URL, then SUPABASE_URL + SUPABASE_SERVICE_ROLE_KEY, then the embedded PGlite, which in
 * production needs DATABASE=pglite. Contradictions (DATABASE=pglite beside a database URL) are errors, not guesses.
 */
export function resolveDbConfig(env: Env = process.env): DbConfig {
  const choice = value(env, 'DATABASE');
  const url = value(env, 'DATABASE_URL');
  const supabaseUrl = value(env, 'SUPABASE_URL');
  const supabaseKey = value(env, 'SUPABASE_SERVICE_ROLE_KEY');
  const none = (error: string): DbConfig => ({ transport: null, describe: 'no database', error });
  if (choice !== '' && choice !== 'pglite')
    return none(`DATABASE must be "pglite" or unset, got ${JSON.stringify(choice.slice(0, 40))}`);
  if (choice === 'pglite' && (url || (supabaseUrl && supabaseKey))) {
    const other = url ? 'DATABASE_URL' : 'SUPABASE_URL';
    return none(
      `DATABASE=pglite and ${other} are both set: remove one (DATABASE=pglite selects the embedded database)`,
    );
  }
  if (url) {
    const u = safeUrl(url);
    const pooler = isTransactionPooler(url) ? ' (transaction pooler, prepare: false)' : '';
    return { transport: 'postgres', describe: `postgres://${u?.host ?? '?'}${u?.pathname ?? ''}${pooler}` };
  }
  if (supabaseUrl && supabaseKey) {
    return { transport: 'supabase', describe: `supabase ${safeUrl(supabaseUrl)?.host ?? '?'}` };
  }
  if (choice !== 'pglite' && isProduction(env)) {
    const half = supabaseUrl
      ? ' (only SUPABASE_URL is set)'
      : supabaseKey
        ? ' (only SUPABASE_SERVICE_ROLE_KEY is set)'
        : '';
    return none(
      `no database configured: set DATABASE_URL, or SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY${half}; ` +
        'DATABASE=pglite keeps the embedded database on purpose (one machine with a lasting disk, never Vercel)',
    );
  }
  return { transport: 'pglite', describe: `pglite ${pgliteDir(env)}` };
}

export type ProviderChoice =
  | { provider: 'unipile'; dsn: string; apiKey: string }
  | { provider: 'sandbox'; reason: string; partial: boolean }
  | { provider: null; error: string };

/** Which LinkedIn provider: Unipile when both variables are set; the sandbox in development or with PROVIDER=sandbox. */
export function resolveProvider(env: Env = process.env): ProviderChoice {
  const choice = value(env, 'PROVIDER');
  const dsn = value(env, 'UNIPILE_DSN');
  const apiKey = value(env, 'UNIPILE_API_KEY');
  if (choice !== '' && choice !== 'sandbox')
    return { provider: null, error: `PROVIDER must be "sandbox" or unset, got ${JSON.stringify(choice.slice(0, 40))}` };
  if (choice === 'sandbox' && (dsn || apiKey))
    return {
      provider: null,
      error:
        'PROVIDER=sandbox and UNIPILE_DSN/UNIPILE_API_KEY are both set: remove one (PROVIDER=sandbox sends nothing)',
    };
  if (dsn && apiKey) return { provider: 'unipile', dsn, apiKey };
  const partial = Boolean(dsn) !== Boolean(apiKey);
  const half = dsn ? 'only UNIPILE_DSN is set' : apiKey ? 'only UNIPILE_API_KEY is set' : '';
  if (choice === 'sandbox') return { provider: 'sandbox', reason: 'PROVIDER=sandbox', partial: false };
  if (isProduction(env)) {
    return {
      provider: null,
      error:
        `no LinkedIn provider configured: set UNIPILE_DSN and UNIPILE_API_KEY${half ? ` (${half})` : ''}; ` +
        'PROVIDER=sandbox runs the in-process sandbox on purpose (a demo: nothing reaches LinkedIn)',
    };
  }
  return { provider: 'sandbox', reason: half || 'UNIPILE_DSN and UNIPILE_API_KEY are not set', partial };
}

export interface Deployment {
  production: boolean;
  database: DbConfig;
  provider: ProviderChoice;
  /** What stops the jobs: the routes answer 500 with it, /api/health 503 `misconfigured`. */
  problems: string[];
  /** What works but deserves a look: /api/health lists it and stays 200. */
  warnings: string[];
  /**
   * The demo parts a production deployment runs on because someone chose them (DATABASE=pglite, PROVIDER=sandbox),
   * one sentence each; empty in development and on a real deployment. What /admin's banner shows.
   */
  demoParts: string[];
}

export function deployment(env: Env = process.env): Deployment {
  const production = isProduction(env);
  const database = resolveDbConfig(env);
  const provider = resolveProvider(env);
  const problems = [database, provider].flatMap((c) => ('error' in c ? [c.error] : []));
  const cron = checkBearer(null, env.CRON_SECRET);
  if (!cron.ok && cron.status === 500) problems.push(`${cron.error}: every cron route answers 500 and runs nothing`);

  const demoParts: string[] = [];
  if (production && database.transport === 'pglite')
    demoParts.push(`DATABASE=pglite: the embedded database in ${pgliteDir(env)}, on this machine's disk only`);
  if (production && provider.provider === 'sandbox')
    demoParts.push('PROVIDER=sandbox: the in-process sandbox answers for LinkedIn, nothing is sent');

  const warnings = [...demoParts];
  if (provider.provider === 'sandbox' && provider.partial)
    warnings.push(`${provider.reason}: the sandbox answers for LinkedIn until both are set`);
  const admin = adminAccess(env as NodeJS.ProcessEnv).mode;
  if (admin === 'disabled') warnings.push('ADMIN_PASSWORD is not set: /admin answers 404');
  if (admin === 'open') warnings.push('ADMIN_PASSWORD is not set: /admin is open to anyone (development only)');
  const api = checkBearer(null, env.APP_API_KEY, 'APP_API_KEY');
  if (!api.ok && api.status === 500)
    warnings.push(`${api.error}: /api/sync-jobs answers 500 (unless lib/api/authorize.ts is replaced)`);
  return { production, database, provider, problems, warnings, demoParts };
}

/** Why this deployment cannot run jobs (no database, no provider), or null: the routes refuse with it. */
export function cannotRunJobs(env: Env = process.env): string | null {
  const { database, provider } = deployment(env);
  const errors = [database, provider].flatMap((c) => ('error' in c ? [c.error] : []));
  return errors.length > 0 ? errors.join('; ') : null;
}

/** The demo parts this production deployment runs on by choice (see Deployment.demoParts): /admin's banner. */
export function demoParts(env: Env = process.env): string[] {
  return deployment(env).demoParts;
}
