import { type AdminCheck, checkAdminAuthorization, clientAddress, SHARED_BUCKET } from './auth.ts';

export interface ThrottleOptions {
  /** Wrong passwords per address that cost nothing (typos). */
  freeFailures: number;
  /** Penalty of the first costly failure; it doubles with each further one ... */
  baseMs: number;
  /** ... up to this much per failure. */
  maxStepMs: number;
  /** A request whose address owes more than this is refused at once (429) instead of being held. */
  maxWaitMs: number;
  /** An address is forgotten this long after its last failure. */
  forgetAfterMs: number;
  /** Memory bound: the oldest addresses are dropped beyond this many. */
  maxEntries: number;
}

const DEFAULTS: ThrottleOptions = {
  freeFailures: 2,
  baseMs: 500,
  maxStepMs: 8_000,
  maxWaitMs: 30_000,
  forgetAfterMs: 15 * 60_000,
  maxEntries: 10_000,
};

interface Entry {
  failures: number;
  blockedUntil: number;
  lastFailureAt: number;
}

/**
 * Slows password guessing per client address. Each wrong password past the free ones pushes the address's
 * `blockedUntil` further out (penalties add up, so firing guesses in parallel does not help), and a request from a
 * blocked address waits until then before its password is even looked at. In memory and per instance: a speed bump,
 * not a wall — the wall is a long random ADMIN_PASSWORD.
 */
export class LoginThrottle {
  private readonly entries = new Map<string, Entry>();
  private readonly options: ThrottleOptions;
  private readonly clock: () => number;

  constructor(options: Partial<ThrottleOptions> = {}, clock: () => number = Date.now) {
    this.options = { ...DEFAULTS, ...options };
    this.clock = clock;
  }

  /** How long a request from `key` must wait before it is checked (0: at once). */
  waitMs(key: string): number {
    const e = this.live(key);
    return e ? Math.max(0, e.blockedUntil - this.clock()) : 0;
  }

  /** Records a wrong password; returns the penalty it added. */
  failure(key: string): number {
    const now = this.clock();
    const e = this.live(key) ?? { failures: 0, blockedUntil: now, lastFailureAt: now };
    e.failures++;
    e.lastFailureAt = now;
    const costly = e.failures - this.options.freeFailures;
    const step = costly <= 0 ? 0 : Math.min(this.options.maxStepMs, this.options.baseMs * 2 ** (costly - 1));
    e.blockedUntil = Math.max(e.blockedUntil, now) + step;
    this.entries.delete(key); // re-insert: the Map's order is the eviction order
    this.entries.set(key, e);
    while (this.entries.size > this.options.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
    return step;
  }

  success(key: string): void {
    this.entries.delete(key);
  }

  get maxWaitMs(): number {
    return this.options.maxWaitMs;
  }

  private live(key: string): Entry | undefined {
    const e = this.entries.get(key);
    if (e && this.clock() - e.lastFailureAt > this.options.forgetAfterMs) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }
}

export type GateResult = AdminCheck | { ok: false; status: 429; retryAfterSec: number };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The door of /admin: throttle, then the credentials check; records the outcome for the address (lib/admin/auth.ts
 * clientAddress: the client's own address only where a proxy we trust wrote it, else one shared bucket).
 */
export async function admitAdminRequest(
  headers: Headers,
  throttle: LoginThrottle,
  env: NodeJS.ProcessEnv = process.env,
  wait: (ms: number) => Promise<unknown> = sleep,
): Promise<GateResult> {
  const key = clientAddress(headers, env);
  const owed = throttle.waitMs(key);
  if (owed > throttle.maxWaitMs) return { ok: false, status: 429, retryAfterSec: Math.ceil(owed / 1000) };
  if (owed > 0) await wait(owed);
  const check = checkAdminAuthorization(headers.get('authorization'), env);
  // A request without credentials is the browser asking which scheme to use, not a guess.
  if (!check.ok && check.status === 401 && headers.get('authorization')) throttle.failure(key);
  // The shared bucket is everyone's: the operator logging in must not wipe the penalty a guesser has earned in it.
  if (check.ok && !check.open && key !== SHARED_BUCKET) throttle.success(key);
  return check;
}
