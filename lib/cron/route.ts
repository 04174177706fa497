import { after } from 'next/server';
import { getDb } from '../db/index.ts';
import { cannotRunJobs } from '../deployment.ts';
import { log, toErrorMessage } from '../log.ts';
import { checkBearer } from './auth.ts';
import { budgetFor } from './budget.ts';
import type { JobDefinition } from './job.ts';
import { deliveryOf } from './occurrence.ts';
import { parseRunParams } from './params.ts';
import { type RunSummary, runJob } from './run.ts';

const DEPTH_HEADER = 'x-cron-continuation-depth';
const json = (body: unknown, status: number) =>
  Response.json(body, { status, headers: { 'cache-control': 'no-store' } });

export interface CronRouteOptions {
  /** Schedules work after the response (Next's `after`, which uses Vercel's waitUntil); injectable for tests. */
  schedule?: (task: () => Promise<void>) => void;
  /** Sends the continuation request; injectable for tests. */
  fetch?: typeof fetch;
}

/**
 * `export const { GET, POST } = cronRoute(job)`: auth → params → run (budgeted, logged, recorded) → JSON summary.
 * Vercel Cron sends GET; POST is the same for manual triggers.
 */
export function cronRoute(job: JobDefinition, options: CronRouteOptions = {}) {
  async function handle(request: Request): Promise<Response> {
    // Auth first: a refused call touches neither the query nor the database.
    const auth = checkBearer(request.headers.get('authorization'), process.env.CRON_SECRET);
    if (!auth.ok) {
      if (auth.status === 500)
        log('error', 'cron refused: secret not configured', { job: job.name, problem: auth.error });
      return json({ error: auth.error }, auth.status);
    }
    // No database or no provider (production without them, lib/deployment.ts): refuse before anything is opened.
    const missing = cannotRunJobs();
    if (missing) {
      log('error', 'cron refused: misconfigured', { job: job.name, problem: missing });
      return json({ error: missing }, 500);
    }
    const parsed = parseRunParams(new URL(request.url).searchParams);
    if (!parsed.ok) return json({ error: parsed.error }, 400);
    const depthHeader = Number.parseInt(request.headers.get(DEPTH_HEADER) ?? '0', 10);
    const depth = Number.isFinite(depthHeader) && depthHeader > 0 ? Math.min(depthHeader, 1000) : 0;

    let summary: RunSummary;
    try {
      const db = await getDb();
      // Who called (cron, external, manual, continuation) and which scheduled occurrence it delivers, if any.
      const delivery = deliveryOf(request, job.name, depth);
      summary = await runJob(job, {
        db,
        trigger: delivery.trigger,
        executionId: delivery.executionId,
        scheduledAt: delivery.scheduledAt,
        budgetMs: budgetFor(job.maxDuration, parsed.params.budgetMs),
        limit: parsed.params.limit,
        dryRun: parsed.params.dryRun,
        depth,
      });
    } catch (e) {
      // Only reachable when the database cannot be opened: runJob itself never throws.
      const error = toErrorMessage(e);
      log('error', 'cron run', { job: job.name, status: 'error', error });
      return json({ runId: null, error }, 500);
    }
    if (summary.status === 'error') return json({ runId: summary.runId, error: summary.error }, 500);

    const progressed = summary.claimed > 0 || summary.succeeded > 0 || summary.cursor !== undefined;
    if (summary.status === 'partial' && progressed && depth < (job.maxContinuations ?? 0)) {
      scheduleContinuation(request, depth + 1, options);
    }
    return json(summary, 200);
  }
  return { GET: handle, POST: handle };
}

function scheduleContinuation(request: Request, depth: number, options: CronRouteOptions): void {
  const url = new URL(request.url);
  url.searchParams.delete('dryRun');
  const task = async () => {
    try {
      const res = await (options.fetch ?? fetch)(url, {
        method: 'POST',
        headers: { authorization: request.headers.get('authorization') ?? '', [DEPTH_HEADER]: String(depth) },
      });
      log('info', 'continuation sent', { path: url.pathname, depth, status: res.status });
    } catch (e) {
      log('warn', 'continuation failed', { path: url.pathname, depth, error: toErrorMessage(e) });
    }
  };
  try {
    (options.schedule ?? after)(task);
  } catch (e) {
    log('warn', 'continuation not scheduled', { depth, error: toErrorMessage(e) });
  }
}
