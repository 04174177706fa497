import type { Db } from '../db/types.ts';
import { log, toErrorMessage } from '../log.ts';
import { recordRunSummary, withSpan } from '../telemetry/index.ts';
import { Budget } from './budget.ts';
import { emptyResult, type JobDefinition, type JobResult, type RunStatus, type Trigger } from './job.ts';
import { policyOverride } from './policy.ts';

export interface RunSummary {
  job: string;
  runId: string | null;
  trigger: Trigger;
  status: RunStatus;
  claimed: number;
  succeeded: number;
  failed: number;
  retried: number;
  uncertain: number;
  remaining: number;
  hasMore: boolean;
  durationMs: number;
  budgetMs: number;
  depth: number;
  reason?: string;
  /** The occurrence this delivery was for (lib/cron/occurrence.ts); absent for manual calls and continuations. */
  executionId?: string;
  scheduledAt?: string;
  error?: string;
  cursor?: unknown;
  details?: JobResult['details'];
  /** How many calls the run row records, when more than this one (consecutive zero-work or skipped calls). */
  calls?: number;
}

export interface RunOptions {
  db: Db;
  trigger: Trigger;
  budgetMs: number;
  limit?: number;
  dryRun?: boolean;
  depth?: number;
  /** The scheduled occurrence being delivered: at most one started run per (job, executionId). */
  executionId?: string | null;
  scheduledAt?: Date | null;
  now?: () => Date;
  signal?: AbortSignal;
}

/** How long a single-flight lease lasts: past the platform's limit, so a killed run's lease expires on its own. */
export const leaseSecondsFor = (job: JobDefinition) => job.maxDuration + 30;

/**
 * One invocation of a job, without HTTP: start the run row (pause flag, single-flight lease), run, finish the row, log
 * one summary line. Never throws: an unexpected error becomes status 'error' with the message.
 */
export function runJob(job: JobDefinition, options: RunOptions): Promise<RunSummary> {
  // The run's span (lib/telemetry): the queue's claims, provider calls and settles are its children, and log lines
  // written inside it (the 'cron run' summary) carry its trace id. A no-op without an SDK.
  const attributes = { 'cron.job': job.name, 'cron.trigger': options.trigger, 'cron.depth': options.depth ?? 0 };
  return withSpan('cron.run', attributes, async (span) => {
    const summary = await runJobUntraced(job, options);
    recordRunSummary(span, summary);
    return summary;
  });
}

async function runJobUntraced(job: JobDefinition, options: RunOptions): Promise<RunSummary> {
  const now = options.now ?? (() => new Date());
  const budget = new Budget(options.budgetMs, () => now().getTime());
  const depth = options.depth ?? 0;
  // A dry run looks without doing: it must not take the occurrence from the delivery that will do the work.
  const executionId = options.dryRun ? null : (options.executionId ?? null);
  const occurrence = executionId ? { executionId, scheduledAt: options.scheduledAt?.toISOString() } : {};
  const base = { job: job.name, trigger: options.trigger, budgetMs: options.budgetMs, depth, ...occurrence };
  const { db } = options;
  let runId: string | null = null;
  let result: JobResult = emptyResult();
  try {
    // One round trip: the run row, the occurrence, the pause flag, the lease and the job's probe (cron_run_begin).
    const [start] = await db.rpc<RunBegin>('cron_run_begin', {
      p_job: job.name,
      p_trigger: options.trigger,
      p_budget_ms: options.budgetMs,
      p_single_flight: job.singleFlight ?? false,
      p_lease_seconds: leaseSecondsFor(job),
      p_depth: depth,
      p_now: now(),
      p_execution_id: executionId,
      p_scheduled_at: executionId ? (options.scheduledAt ?? null) : null,
      // A dry run reports what is due: it always looks.
      p_probe: options.dryRun ? null : (job.probe ?? null),
    });
    if (!start) throw new Error('cron_run_begin returned nothing');
    runId = start.run_id;
    // 'duplicate_delivery': runId is the first delivery's run; this one wrote nothing (one record per occurrence).
    // 'paused' / 'locked': runId is the row recording this call, shared with the skipped calls before it.
    if (start.status === 'skipped') {
      const summary = ordered({
        ...base,
        ...result,
        runId,
        status: 'skipped',
        reason: start.reason ?? undefined,
        durationMs: 0,
        ...callsOf(start.calls),
      });
      log('info', 'cron run', summary as unknown as Record<string, unknown>);
      return summary;
    }
    const id = runId;
    result = await job.run({
      db,
      runId: id,
      job: job.name,
      trigger: options.trigger,
      depth,
      budget,
      limit: options.limit ?? job.defaultLimit,
      dryRun: options.dryRun ?? false,
      now,
      policy: policyOverride(),
      signal: options.signal ?? new AbortController().signal,
      extendLease: async () => {
        await db.rpc('cron_extend_lease', { p_run_id: id, p_lease_seconds: leaseSecondsFor(job), p_now: now() });
      },
      nothingDue: start.due === false,
    });
    const { zeroWork, ...reported } = result;
    const summary = ordered({
      ...base,
      ...reported,
      runId,
      status: result.hasMore ? 'partial' : 'ok',
      durationMs: budget.elapsedMs(),
    });
    // A dry run is an operator's look: its own row, never folded into the idle calls around it.
    const record = await finish(db, summary, null, now(), zeroWork === true && !options.dryRun);
    const recorded = ordered({ ...summary, runId: record.runId, ...callsOf(record.calls) });
    log('info', 'cron run', recorded as unknown as Record<string, unknown>);
    return recorded;
  } catch (e) {
    const error = toErrorMessage(e);
    const { zeroWork: _, ...reported } = result;
    const summary = ordered({ ...base, ...reported, runId, status: 'error', error, durationMs: budget.elapsedMs() });
    if (runId) {
      try {
        await finish(db, summary, error, now());
      } catch (finishError) {
        log('error', 'could not record the failed run', { runId, error: toErrorMessage(finishError) });
      }
    }
    log('error', 'cron run', summary as unknown as Record<string, unknown>);
    return summary;
  }
}

const SUMMARY_ORDER = [
  'job',
  'runId',
  'trigger',
  'status',
  'claimed',
  'succeeded',
  'failed',
  'retried',
  'uncertain',
  'remaining',
  'hasMore',
  'durationMs',
  'budgetMs',
] as const;

/** The summary in the documented order (DESIGN.md's route contract), extras after. */
function ordered(s: RunSummary): RunSummary {
  const head = Object.fromEntries(SUMMARY_ORDER.map((k) => [k, s[k]]));
  return { ...head, ...s } as RunSummary;
}

interface RunBegin {
  run_id: string;
  status: string;
  reason: string | null;
  /** The probe's answer: false = nothing due; null when the job has none (or the run did not start). */
  due: boolean | null;
  calls: number | null;
}

/** `calls` only when a row records more than this call (consecutive zero-work or skipped calls). */
const callsOf = (calls: number | null | undefined) => (calls && calls > 1 ? { calls } : {});

/**
 * Finishes the run row in one round trip (cron_run_end); a zero-work call is folded into the job's previous zero-work
 * row. Returns the row that records the call.
 */
async function finish(
  db: Db,
  summary: RunSummary,
  error: string | null,
  at: Date,
  zeroWork = false,
): Promise<{ runId: string | null; calls: number }> {
  const [row] = await db.rpc<{ run_id: string; calls: number }>('cron_run_end', {
    p_run_id: summary.runId,
    p_status: summary.status,
    p_summary: summary,
    p_error: error,
    p_now: at,
    p_zero_work: zeroWork,
  });
  return { runId: row?.run_id ?? summary.runId, calls: row?.calls ?? 1 };
}
