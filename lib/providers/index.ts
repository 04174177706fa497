/**
 * The LinkedIn provider of this process: Unipile when UNIPILE_DSN and UNIPILE_API_KEY are both set, otherwise the
 * in-process sandbox, which production runs only with PROVIDER=sandbox (lib/deployment.ts decides). One instance per
 * process (kept on globalThis so Next.js dev reloads and route bundles share it).
 */
import { DeploymentError, isProduction, resolveProvider } from '../deployment.ts';
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
  const choice = resolveProvider(env);
  // Production without credentials: refuse rather than let the sandbox mark real users' DMs `sent`.
  if (choice.provider === null) throw new DeploymentError(choice.error);
  if (choice.provider === 'unipile') {
    const timeoutMs = intFromEnv(env, 'UNIPILE_TIMEOUT_MS', 15_000, 1);
    const provider = createUnipileProvider({ dsn: choice.dsn, apiKey: choice.apiKey, timeoutMs });
    log('info', 'linkedin provider selected', { provider: provider.name, dsn: choice.dsn, timeoutMs });
    return provider;
  }
  const latencyMs = intFromEnv(env, 'SANDBOX_LATENCY_MS', 300, 0);
  const provider = createSandboxProvider({ latencyMs });
  // A demo deployment on PROVIDER=sandbox says so at warn level too: nothing it "sends" reaches LinkedIn.
  log(choice.partial || isProduction(env) ? 'warn' : 'info', 'linkedin provider selected', {
    provider: provider.name,
    latencyMs,
    reason: choice.reason,
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
