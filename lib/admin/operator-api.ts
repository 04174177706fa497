import { z } from 'zod';
import type { JobDefinition } from '../cron/job.ts';
import { parseRunParams } from '../cron/params.ts';
import { getDb } from '../db/index.ts';
import { cannotRunJobs } from '../deployment.ts';
import { log, toErrorMessage } from '../log.ts';
import { adminJobs } from './jobs.ts';
import { type Actor, jobStates, runJobNow, setJobPaused } from './operator.ts';
import { authorizeOperator, operatorRefusal } from './operator-auth.ts';
import { LoginThrottle } from './throttle.ts';

/**
 * The operator's JSON API, for scripts and runbooks (and `npm run cron -- --pause`):
 *   GET  /api/jobs                 every job: paused, schedule, next run, last run, last success
 *   GET  /api/jobs/<job>           one job, the same fields
 *   POST /api/jobs/<job>/pause     → { job, paused: true, changed }
 *   POST /api/jobs/<job>/resume    → { job, paused: false, changed }
 *   POST /api/jobs/<job>/run       → the run summary a cron call answers (?limit, ?budgetMs, ?dryRun as there)
 * Auth (lib/admin/operator-auth.ts) → 401/429/500; then the request's shape → 400 with the zod message; unknown job or
 * action → 404 with the list; another method → 405. The registry comes from the caller: lib never imports jobs/.
 */

type Registry = Readonly<Record<string, JobDefinition>>;
type Handler = (request: Request, context: { params: Promise<Record<string, string | string[]>> }) => Promise<Response>;

const json = (body: unknown, status: number, headers: Record<string, string> = {}) =>
  Response.json(body, { status, headers: { 'cache-control': 'no-store', ...headers } });

const ACTIONS = ['pause', 'resume', 'run'] as const;
const jobParam = z.object({
  job: z
    .string()
    .max(64, 'at most 64 characters')
    .regex(/^[a-z0-9][a-z0-9_-]*$/, 'lower-case letters, digits, - and _ (e.g. dm-queue)'),
});
const noQuery = z.strictObject({});

function zodMessage(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || 'query'}: ${i.message}`).join('; ');
}

function methodNotAllowed(allow: string): Handler {
  return async () => json({ error: `method not allowed: use ${allow}` }, 405, { allow });
}

export interface OperatorApiOptions {
  /** The throttle of ADMIN_PASSWORD guesses; tests pass their own. */
  throttle?: LoginThrottle;
  env?: NodeJS.ProcessEnv;
}

/** One throttle per instance for every /api/jobs route, like proxy.ts's for /admin (exported for tests). */
export const operatorThrottle = new LoginThrottle();

export function operatorApi(registry: Registry, options: OperatorApiOptions = {}) {
  const throttle = options.throttle ?? operatorThrottle;
  const names = Object.keys(registry);

  /** Auth, then the deployment check: the steps every route takes before reading its input. */
  async function admit(request: Request): Promise<{ ok: true; actor: Actor } | { ok: false; response: Response }> {
    const env = options.env ?? process.env;
    const auth = await authorizeOperator(request.headers, throttle, env);
    if (!auth.ok) {
      if (auth.status === 500) log('error', 'operator api refused: not configured', { problem: auth.error });
      return { ok: false, response: operatorRefusal(auth) };
    }
    const missing = cannotRunJobs(env);
    if (missing) {
      log('error', 'operator api refused: misconfigured', { problem: missing });
      return { ok: false, response: json({ error: missing }, 500) };
    }
    return { ok: true, actor: { via: auth.via, address: auth.address } };
  }

  /** The job of the path: 400 when it cannot be a job name, 404 (with the known jobs) when no job has it. */
  function jobOf(raw: unknown): { ok: true; job: JobDefinition } | { ok: false; response: Response } {
    const parsed = jobParam.safeParse({ job: raw });
    if (!parsed.success) return { ok: false, response: json({ error: zodMessage(parsed.error) }, 400) };
    const name = parsed.data.job;
    // hasOwn: 'constructor' and friends are not jobs.
    const job = Object.hasOwn(registry, name) ? registry[name] : undefined;
    if (!job) return { ok: false, response: json({ error: `unknown job ${name}`, jobs: names }, 404) };
    return { ok: true, job };
  }

  function queryError(request: Request): Response | null {
    const parsed = noQuery.safeParse(Object.fromEntries(new URL(request.url).searchParams));
    return parsed.success ? null : json({ error: zodMessage(parsed.error) }, 400);
  }

  async function views(jobNames: string[]) {
    const states = await jobStates(await getDb(), jobNames);
    const schedule = new Map(adminJobs(registry).map((j) => [j.job, j]));
    return states.map((s) => {
      const j = schedule.get(s.job);
      return {
        job: s.job,
        paused: s.paused,
        schedule: j?.schedule ?? null,
        timezone: j?.timezone ?? null,
        nextRunAt: s.paused ? null : (j?.nextRunAt ?? null),
        lastRun: s.lastRun,
        lastSuccessAt: s.lastSuccessAt,
      };
    });
  }

  function internalError(what: string, e: unknown): Response {
    log('error', what, { error: toErrorMessage(e) });
    return json({ error: 'internal error' }, 500);
  }

  const list: Handler = async (request) => {
    const gate = await admit(request);
    if (!gate.ok) return gate.response;
    const bad = queryError(request);
    if (bad) return bad;
    try {
      return json({ jobs: await views(names) }, 200);
    } catch (e) {
      return internalError('operator api: list jobs failed', e);
    }
  };

  const show: Handler = async (request, context) => {
    const gate = await admit(request);
    if (!gate.ok) return gate.response;
    const { job: raw } = await context.params;
    const found = jobOf(raw);
    if (!found.ok) return found.response;
    const bad = queryError(request);
    if (bad) return bad;
    try {
      const [view] = await views([found.job.name]);
      return json(view, 200);
    } catch (e) {
      return internalError('operator api: show job failed', e);
    }
  };

  const act: Handler = async (request, context) => {
    const gate = await admit(request);
    if (!gate.ok) return gate.response;
    const { job: raw, action } = await context.params;
    const found = jobOf(raw);
    if (!found.ok) return found.response;
    const job = found.job;
    if (!ACTIONS.includes(action as (typeof ACTIONS)[number]))
      return json({ error: `unknown action ${String(action)}`, actions: ACTIONS }, 404);
    try {
      if (action === 'run') {
        const query = parseRunParams(new URL(request.url).searchParams);
        if (!query.ok) return json({ error: query.error }, 400);
        const summary = await runJobNow(await getDb(), job, gate.actor, query.params);
        // As the cron route answers: an unexpected error is a 500 with the run's id; paused is 200 'skipped'.
        if (summary.status === 'error') return json({ runId: summary.runId, error: summary.error }, 500);
        return json(summary, 200);
      }
      const bad = queryError(request);
      if (bad) return bad;
      return json(await setJobPaused(await getDb(), job.name, action === 'pause', gate.actor), 200);
    } catch (e) {
      return internalError(`operator api: ${action} failed`, e);
    }
  };

  const other = (allow: string) => methodNotAllowed(allow);
  return {
    /** app/api/jobs/route.ts */
    jobs: { GET: list, POST: other('GET'), PUT: other('GET'), PATCH: other('GET'), DELETE: other('GET') },
    /** app/api/jobs/[job]/route.ts */
    job: { GET: show, POST: other('GET'), PUT: other('GET'), PATCH: other('GET'), DELETE: other('GET') },
    /** app/api/jobs/[job]/[action]/route.ts */
    action: { POST: act, GET: other('POST'), PUT: other('POST'), PATCH: other('POST'), DELETE: other('POST') },
  };
}
