import type { Outcome, SettleCounts } from './drain.ts';

/**
 * The shared vocabulary between the drain loop and every `settle_*` SQL function: one JSON element per item, read
 * there with `jsonb_to_recordset`. `success` names the job's own done outcome and fields (sent, published, …).
 */
export function outcomeRecord<R>(
  o: Outcome<R>,
  success: (result: R) => Record<string, unknown>,
): Record<string, unknown> {
  switch (o.outcome) {
    case 'success':
      return { id: o.id, ...success(o.result) };
    case 'failed':
    case 'uncertain':
      return { id: o.id, outcome: o.outcome, error: o.error, code: o.code };
    case 'retry':
      return {
        id: o.id,
        outcome: 'retry',
        error: o.error,
        code: o.code,
        retryAfterMs: o.retryAfterMs,
        cooldownAccount: o.cooldownAccount,
      };
    case 'account':
      return { id: o.id, outcome: 'account', error: o.error, code: o.code, accountStatus: o.accountStatus };
    case 'release':
      return { id: o.id, outcome: 'release', error: o.error };
  }
}

/** Counts what a settle function returned, by each row's new status (`doneStatus`: 'sent', 'published', …). */
export function countSettled(
  rows: { status: string; outcome: string }[],
  doneStatus: string,
  counts?: SettleCounts,
): SettleCounts {
  const c = counts ?? { succeeded: 0, failed: 0, retried: 0, uncertain: 0, released: 0 };
  for (const r of rows) {
    if (r.status === doneStatus) c.succeeded++;
    else if (r.status === 'failed') c.failed++;
    else if (r.status === 'uncertain') c.uncertain++;
    else if (r.outcome === 'retry') c.retried++;
    else c.released++;
  }
  return c;
}
