import { previousFireBefore, type Schedule, schedules } from '../schedules.ts';
import type { Trigger } from './job.ts';

/**
 * Who sent a call, and which scheduled occurrence it delivers. Every delivery of one occurrence carries the same
 * `executionId`; the run log holds one started run per (job, executionId), so a second delivery is answered
 * `duplicate_delivery` instead of working again (cron_run_start). Calls without an occurrence (curl, Run now, the
 * local runner's --once, continuations) have none and are never deduplicated.
 *
 * Vercel names no execution-id header for path targets (a Schedules path target calls the route "the same way a
 * Cron Job does": user-agent `vercel-cron/1.0`, `x-vercel-cron-schedule` with the expression, `Authorization`;
 * /docs/schedules/migrate-from-cron-jobs). So the occurrence is derived: the expression from `x-vercel-cron-schedule`,
 * the zone from the job's entry in vercel.json, and the slot = its latest fire at or before now. That holds while a
 * delivery arrives less than one interval after its slot; Vercel requires the interval to be at least the jitter.
 */
export interface Delivery {
  trigger: Trigger;
  executionId: string | null;
  /** The slot the delivery is for (the scheduled time, without jitter); null when not known. */
  scheduledAt: Date | null;
}

/** A delivery may reach us slightly before our clock reaches its slot (clock skew): count it for that slot. */
export const SLOT_SKEW_MS = 10_000;
const MAX_EXPRESSION = 100;
const MAX_JOB_NAME = 500;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;

const normalize = (expression: string) => expression.trim().split(/\s+/).join(' ');

/** The Vercel occurrence of a cron delivery, or null when the header is absent, malformed or not this job's. */
export function vercelOccurrence(
  job: string,
  header: string | null,
  now: Date,
  list: Schedule[] = schedules(),
): { executionId: string; scheduledAt: Date } | null {
  if (!header || header.length > MAX_EXPRESSION) return null;
  const expression = normalize(header);
  const entry = list.find((s) => s.job === job && normalize(s.schedule) === expression);
  if (!entry) return null;
  let slot: Date | null;
  try {
    // previousFireBefore is exclusive: + 1 ms lets a delivery exactly at its slot count for it.
    slot = previousFireBefore(expression, new Date(now.getTime() + SLOT_SKEW_MS + 1), entry.timezone);
  } catch {
    return null;
  }
  if (!slot) return null;
  return { executionId: `vercel:${entry.timezone}:${expression}@${slot.toISOString()}`, scheduledAt: slot };
}

/**
 * Google Cloud Scheduler sends `X-CloudScheduler-JobName` and `X-CloudScheduler-ScheduleTime` (RFC 3339, the same on
 * every retry of one scheduled run; /scheduler/docs/configuring/deduplicate-job-requests). A forced run ("Force run",
 * `gcloud scheduler jobs run`) may carry the next scheduled time, which lies ahead: it is not deduplicated, so it can
 * never swallow the real run of that slot.
 */
export function cloudSchedulerOccurrence(
  jobName: string | null,
  scheduleTime: string | null,
  now: Date,
): { executionId: string; scheduledAt: Date } | null {
  if (!jobName || jobName.length > MAX_JOB_NAME || !scheduleTime || !RFC3339.test(scheduleTime)) return null;
  const at = new Date(scheduleTime);
  if (Number.isNaN(at.getTime()) || at.getTime() > now.getTime() + 60_000) return null;
  return { executionId: `cloud-scheduler:${jobName}@${at.toISOString()}`, scheduledAt: at };
}

/** The scheduler headers that mark a call as `external` (another clock than Vercel's; docs/deploy.md). */
export function isExternalScheduler(headers: Headers): boolean {
  return (
    headers.has('x-cloudscheduler-scheduletime') ||
    headers.has('x-cloudscheduler-jobname') ||
    // GitHub Actions sends nothing of its own: docs/deploy.md's workflow step sends its run id.
    /^\d{1,20}$/.test(headers.get('x-github-run-id') ?? '') ||
    // Supabase Cron: pg_net sends `User-Agent: pg_net/<version>` on every request.
    (headers.get('user-agent') ?? '').startsWith('pg_net/')
  );
}

export function deliveryOf(request: Request, job: string, depth: number, now: Date = new Date()): Delivery {
  const none = { executionId: null, scheduledAt: null };
  if (depth > 0) return { trigger: 'continuation', ...none };
  const { headers } = request;
  // Vercel Cron Jobs and Schedules path targets send this user agent.
  if (headers.get('user-agent')?.startsWith('vercel-cron/')) {
    return { trigger: 'cron', ...(vercelOccurrence(job, headers.get('x-vercel-cron-schedule'), now) ?? none) };
  }
  if (isExternalScheduler(headers)) {
    const occurrence = cloudSchedulerOccurrence(
      headers.get('x-cloudscheduler-jobname'),
      headers.get('x-cloudscheduler-scheduletime'),
      now,
    );
    return { trigger: 'external', ...(occurrence ?? none) };
  }
  // Everything else (curl, /admin's Run now, the local runner's --once) is manual and never deduplicated.
  return { trigger: 'manual', ...none };
}
