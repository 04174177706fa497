/**
 * The LinkedIn provider of this process: Unipile when UNIPILE_DSN and UNIPILE_API_KEY are both set, otherwise the
 * in-process sandbox. One instance per process (kept on globalThis so Next.js dev reloads and route bundles share it).
 */
import { log } from '../log.ts';
import { createSandboxProvider } from './sandbox.ts';
import type { LinkedInProvider } from './types.ts';
import { createUnipileProvider } from './unipile.ts';

export type { LinkedInProvider } from './types.ts';

const KEY = Symbol.for('pg-cron-jobs.linkedinProvider');
type Holder = { [KEY]?: LinkedInProvider };
const holder = globalThis as unknown as Holder;

type Env = Record<string, string | undefined>;

function intFromEnv(env: Env, name: string, fallback: number, min: number): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || !Number.isSafeInteger(Number(raw))) {
    throw new Error(`${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
  }
  return Number(raw);
}

function createProvider(env: Env): LinkedInProvider {
  const dsn = env.UNIPILE_DSN?.trim();
  const apiKey = env.UNIPILE_API_KEY?.trim();
  if (dsn && apiKey) {
    const timeoutMs = intFromEnv(env, 'UNIPILE_TIMEOUT_MS', 15_000, 1);
    const provider = createUnipileProvider({ dsn, apiKey, timeoutMs });
    log('info', 'linkedin provider selected', { provider: provider.name, dsn, timeoutMs });
    return provider;
  }
  const latencyMs = intFromEnv(env, 'SANDBOX_LATENCY_MS', 300, 0);
  const provider = createSandboxProvider({ latencyMs });
  const production = env.VERCEL_ENV === 'production' || (env.VERCEL_ENV == null && env.NODE_ENV === 'production');
  const partial = Boolean(dsn) !== Boolean(apiKey);
  log(production || partial ? 'warn' : 'info', 'linkedin provider selected', {
    provider: provider.name,
    latencyMs,
    reason: partial
      ? 'only one of UNIPILE_DSN and UNIPILE_API_KEY is set'
      : 'UNIPILE_DSN and UNIPILE_API_KEY are not set',
  });
  return provider;
}

/** The process-wide provider, created from `env` on first use. */
export function getProvider(env: Env = process.env): LinkedInProvider {
  let provider = holder[KEY];
  if (!provider) {
    provider = createProvider(env);
    holder[KEY] = provider;
  }
  return provider;
}

/** Replaces (or with undefined, forgets) the process-wide provider; for tests. */
export function setProvider(provider: LinkedInProvider | undefined): void {
  if (provider) holder[KEY] = provider;
  else delete holder[KEY];
}
