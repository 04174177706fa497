import { z } from 'zod';
import { authorize, refusal } from '../api/authorize.ts';
import { readBodyCapped } from '../api/read-body.ts';
import type { JobDefinition } from '../cron/job.ts';
import { getDb } from '../db/index.ts';
import { log, toErrorMessage } from '../log.ts';
import { kickSyncRun } from './kick.ts';
import { enqueueSyncJob, getSyncJob, toSyncJobView } from './queries.ts';

const json = (body: unknown, status: number, headers: Record<string, string> = {}) =>
  Response.json(body, { status, headers: { 'cache-control': 'no-store', ...headers } });

// z.guid(): any 8-4-4-4-12 hex id Postgres accepts (z.uuid() would refuse ids that are not RFC 9562 variants).
const enqueueSchema = z.strictObject({
  accountId: z.guid('accountId must be a UUID'),
  kind: z.enum(['relations']),
});
const idSchema = z.guid();

/** Request bodies are a few dozen bytes; anything much larger is not a sync request. */
const MAX_BODY_BYTES = 4_096;

async function readJson(
  request: Request,
): Promise<{ ok: true; value: unknown } | { ok: false; status: 400 | 413; error: string }> {
  // Counted in bytes, refused on content-length before reading: a 64 MiB body is never read into memory.
  const body = await readBodyCapped(request, MAX_BODY_BYTES);
  if (!body.ok) return body;
  try {
    return { ok: true, value: JSON.parse(body.text) };
  } catch {
    return { ok: false, status: 400, error: 'body: must be JSON, e.g. {"accountId":"<uuid>","kind":"relations"}' };
  }
}

function internalError(what: string, e: unknown): Response {
  log('error', what, { error: toErrorMessage(e) });
  return json({ error: 'internal error' }, 500);
}

/**
 * `POST /api/sync-jobs` `{ accountId, kind: "relations" }` → 202 `{ id, status: "queued" }` and the first slice of
 * work starts after the response; the same job already queued or running → 200 with that job; 400 invalid body; 413
 * body over 4 KiB; 404 unknown account.
 */
export function enqueueSyncJobRoute(job: JobDefinition, options: { maxDuration: number }) {
  return async (request: Request): Promise<Response> => {
    const startedAt = Date.now();
    const auth = await authorize(request);
    if (!auth.ok) return refusal(auth);
    const body = await readJson(request);
    if (!body.ok) return json({ error: body.error }, body.status);
    const parsed = enqueueSchema.safeParse(body.value);
    if (!parsed.success) {
      const error = parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
      return json({ error }, 400);
    }
    try {
      const db = await getDb();
      const row = await enqueueSyncJob(db, { ...parsed.data, now: new Date() });
      if (!row) return json({ error: 'account not found' }, 404);
      const location = { location: `/api/sync-jobs/${row.id}` };
      if (!row.created) return json(toSyncJobView(row), 200, location);
      log('info', 'sync job queued', { syncJobId: row.id, accountId: row.account_id, kind: row.kind });
      kickSyncRun(job, db, { routeMaxDuration: options.maxDuration, startedAt });
      return json({ id: row.id, status: row.status }, 202, location);
    } catch (e) {
      return internalError('sync enqueue failed', e);
    }
  };
}

/** `GET /api/sync-jobs/<id>` → 200 with the job and its progress; unknown or malformed id → 404. */
export async function syncJobStatus(request: Request, context: { params: Promise<{ id: string }> }): Promise<Response> {
  const auth = await authorize(request);
  if (!auth.ok) return refusal(auth);
  const { id } = await context.params;
  if (!idSchema.safeParse(id).success) return json({ error: 'sync job not found' }, 404);
  try {
    const row = await getSyncJob(await getDb(), id);
    return row ? json(toSyncJobView(row), 200) : json({ error: 'sync job not found' }, 404);
  } catch (e) {
    return internalError('sync status failed', e);
  }
}
