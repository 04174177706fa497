'use server';

import { refresh } from 'next/cache';
import { after } from 'next/server';
import { z } from 'zod';
import { jobs } from '../../jobs/index.ts';
import { runJobNow, setJobPaused } from '../../lib/admin/operator.ts';
import { QUEUE_NAME, resolveItem } from '../../lib/admin/queries.ts';
import { adminRequest } from '../../lib/admin/session.ts';
import type { RunSummary } from '../../lib/cron/run.ts';
import { getDb } from '../../lib/db/index.ts';
import { log, toErrorMessage } from '../../lib/log.ts';
import type { ActionResult } from './action-result.ts';

// Every action starts with the credentials check on its own request (adminRequest reads headers()): a server action
// is an ordinary POST that anyone can send to /admin, whatever the page showed. Then zod, then one SQL function.
// Pause, resume and Run now are lib/admin/operator.ts, the same functions /api/jobs calls.

const jobName = z.string().refine((name) => Object.hasOwn(jobs, name), 'unknown job');
const runNowInput = z.object({ job: jobName });
const enabledInput = z.object({ job: jobName, enabled: z.enum(['true', 'false']).transform((v) => v === 'true') });
const itemInput = z.object({
  action: z.enum(['retry', 'cancel', 'mark-sent']),
  // Any queue name: the overview lists every account-keyed queue, and the SQL answers 'unknown kind' for the rest.
  kind: z.string().regex(QUEUE_NAME, 'not a queue name'),
  id: z.guid(),
});

/** How long Run now waits for the run to finish before answering "still running" (the run goes on regardless). */
const ANSWER_WITHIN_MS = 3_000;

type Parsed<T> = { ok: true; data: T; address: string } | { ok: false; result: ActionResult };

async function authorizedInput<T>(schema: z.ZodType<T>, formData: FormData): Promise<Parsed<T>> {
  const who = await adminRequest();
  if (!who.ok) return { ok: false, result: { ok: false, message: 'not authorized' } };
  const parsed = schema.safeParse(Object.fromEntries(formData));
  if (!parsed.success) {
    const message = parsed.error.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; ');
    return { ok: false, result: { ok: false, message } };
  }
  return { ok: true, data: parsed.data, address: who.address };
}

function describeRun(s: RunSummary): ActionResult {
  if (s.status === 'error') return { ok: false, message: `error: ${s.error ?? 'unknown'}` };
  if (s.status === 'skipped') return { ok: true, message: `skipped (${s.reason ?? 'paused'})` };
  const counts = `claimed ${s.claimed}, succeeded ${s.succeeded}, failed ${s.failed}, retried ${s.retried}`;
  return {
    ok: true,
    message: `${s.status}: ${counts}${s.uncertain ? `, uncertain ${s.uncertain}` : ''} in ${s.durationMs} ms`,
  };
}

export async function runNow(_previous: ActionResult | null, formData: FormData): Promise<ActionResult> {
  const input = await authorizedInput(runNowInput, formData);
  if (!input.ok) return input.result;
  const job = jobs[input.data.job]!;
  try {
    const run = runJobNow(await getDb(), job, { via: 'admin', address: input.address });
    const finished = await Promise.race([run, new Promise<null>((r) => setTimeout(() => r(null), ANSWER_WITHIN_MS))]);
    refresh();
    if (finished) return describeRun(finished);
    // Keeps the function alive until the run ends (this page's maxDuration covers the longest job).
    after(run);
    return { ok: true, message: 'started; still running (see Recent runs)' };
  } catch (e) {
    return { ok: false, message: toErrorMessage(e) };
  }
}

export async function setEnabled(_previous: ActionResult | null, formData: FormData): Promise<ActionResult> {
  const input = await authorizedInput(enabledInput, formData);
  if (!input.ok) return input.result;
  const { job, enabled } = input.data;
  try {
    await setJobPaused(await getDb(), job, !enabled, { via: 'admin', address: input.address });
    refresh();
    return { ok: true, message: enabled ? 'resumed' : 'paused: its route answers "skipped" until resumed' };
  } catch (e) {
    return { ok: false, message: toErrorMessage(e) };
  }
}

export async function resolveQueueItem(_previous: ActionResult | null, formData: FormData): Promise<ActionResult> {
  const input = await authorizedInput(itemInput, formData);
  if (!input.ok) return input.result;
  const { action, kind, id } = input.data;
  log('info', 'admin: resolve item', { action, kind, id, address: input.address });
  try {
    const result = await resolveItem(await getDb(), action, { kind, id });
    refresh();
    return result.ok ? { ok: true, message: `now ${result.status}` } : { ok: false, message: result.reason };
  } catch (e) {
    return { ok: false, message: toErrorMessage(e) };
  }
}
