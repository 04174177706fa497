import { z } from 'zod';
import { authorize, refusal } from '../api/authorize.ts';
import { getDb } from '../db/index.ts';
import { log, toErrorMessage } from '../log.ts';
import { itemWithReason } from './index.ts';
import { inWords, reasonInWords } from './words.ts';

const json = (body: unknown, status: number) =>
  Response.json(body, { status, headers: { 'cache-control': 'no-store' } });

// z.guid(): any 8-4-4-4-12 hex id Postgres accepts (as /api/sync-jobs/<id>).
const idSchema = z.guid('id must be a UUID');

/**
 * `GET /api/<plural>/<id>` for an account-keyed queue → 200 `{ item, reason: { code, words, until, in, detail } }`
 * (the item's engine columns, never its text); 400 malformed id; 404 unknown id; 401 without the app's key.
 */
export function itemReasonRoute(queue: string, noun: string) {
  return async (request: Request, context: { params: Promise<{ id: string }> }): Promise<Response> => {
    const auth = await authorize(request);
    if (!auth.ok) return refusal(auth);
    const { id } = await context.params;
    const parsed = idSchema.safeParse(id);
    if (!parsed.success) return json({ error: `id: ${parsed.error.issues[0]?.message ?? 'invalid'}` }, 400);
    try {
      const now = new Date();
      const view = await itemWithReason(await getDb(), queue, parsed.data, now);
      if (!view) return json({ error: `${noun} not found` }, 404);
      return json(
        {
          item: view.item,
          reason: {
            code: view.reason,
            words: reasonInWords(view.reason, view.detail, now),
            until: view.detail.until ?? null,
            in: inWords(view.detail.until, now),
            detail: view.detail,
          },
        },
        200,
      );
    } catch (e) {
      log('error', 'item reason failed', { queue, error: toErrorMessage(e) });
      return json({ error: 'internal error' }, 500);
    }
  };
}
