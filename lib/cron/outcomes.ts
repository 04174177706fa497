import type { Outcome, SettleCounts } from './drain.ts';

/**
 * The one mapping from the drain loop's outcomes to what every settle function reads with `public.queue_outcomes`
 * (supabase/migrations/20261201000100_queue_core.sql): `{ id, outcome, error, code, retryAfterMs, cooldown, keyStatus,
 * result }`. A queue states only how its outcomes differ from the defaults.
 */
export interface OutcomeOptions<R> {
  /** Written to the item's done columns by the settle function (e.g. the provider's message id). */
  result?: (result: R) => Record<string, unknown>;
  /** A queue whose calls are idempotent (reads, webhooks) retries what others record as uncertain. */
  uncertain?: 'uncertain' | 'retry';
  /** A queue whose items have no key to pause retries key errors instead (webhooks). */
  key?: 'key' | 'retry';
  /** False: the error code is not prefixed to last_error (webhooks say the HTTP status in the message itself). */
  code?: boolean;
  /** Fields the queue's settle function reads besides the core's, put under `result` (e.g. the page count at claim). */
  extra?: (outcome: Outcome<R>) => Record<string, unknown> | undefined;
}

export interface SettleRecord {
  id: string;
  outcome: 'done' | 'retry' | 'failed' | 'uncertain' | 'release' | 'key';
  error?: string;
  code?: string;
  retryAfterMs?: number;
  cooldown?: boolean;
  keyStatus?: string;
  result?: Record<string, unknown>;
}

/** Text the database accepts as jsonb: no NUL, no lone surrogate (either would fail the whole batch's statement). */
export function cleanText(text: string | undefined, max = 2000): string | undefined {
  if (text === undefined) return undefined;
  return text.toWellFormed().replaceAll(String.fromCharCode(0), '').slice(0, max);
}

/** Retry-After from a provider is untrusted: a finite, non-negative number of ms or nothing. */
function boundedMs(ms: number | undefined): number | undefined {
  return ms !== undefined && Number.isFinite(ms) && ms >= 0 ? Math.min(ms, 1e15) : undefined;
}

export function toSettleRecords<R>(outcomes: Outcome<R>[], options: OutcomeOptions<R> = {}): SettleRecord[] {
  const withCode = options.code ?? true;
  return outcomes.map((o) => {
    const extra = options.extra?.(o);
    const base = { id: o.id, ...(extra ? { result: extra } : {}) };
    switch (o.outcome) {
      case 'success':
        return { ...base, outcome: 'done', result: { ...options.result?.(o.result), ...extra } };
      case 'release':
        return { ...base, outcome: 'release', error: cleanText(o.error) };
      default: {
        let outcome: SettleRecord['outcome'] = o.outcome;
        if (outcome === 'uncertain' && options.uncertain === 'retry') outcome = 'retry';
        if (outcome === 'key' && options.key === 'retry') outcome = 'retry';
        return {
          ...base,
          outcome,
          error: cleanText(o.error),
          code: withCode ? cleanText(o.code, 200) : undefined,
          retryAfterMs: o.outcome === 'retry' ? boundedMs(o.retryAfterMs) : undefined,
          cooldown: o.outcome === 'retry' && o.cooldown ? true : undefined,
          keyStatus: o.outcome === 'key' && outcome === 'key' ? o.keyStatus : undefined,
        };
      }
    }
  });
}

/** What the settle function decided, counted: every settle function returns one `decision` per settled item. */
export function countDecisions(rows: { decision: string }[]): SettleCounts {
  const c: SettleCounts = { succeeded: 0, failed: 0, retried: 0, uncertain: 0, released: 0 };
  for (const r of rows) {
    if (r.decision === 'done') c.succeeded++;
    else if (r.decision === 'failed') c.failed++;
    else if (r.decision === 'uncertain') c.uncertain++;
    else if (r.decision === 'retry') c.retried++;
    else c.released++;
  }
  return c;
}

export function addCounts(a: SettleCounts, b: SettleCounts): SettleCounts {
  return {
    succeeded: a.succeeded + b.succeeded,
    failed: a.failed + b.failed,
    retried: a.retried + b.retried,
    uncertain: a.uncertain + b.uncertain,
    released: a.released + b.released,
  };
}
