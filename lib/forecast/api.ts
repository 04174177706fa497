import { z } from 'zod';
import { authorize, refusal } from '../api/authorize.ts';
import { getDb } from '../db/index.ts';
import { log, toErrorMessage } from '../log.ts';
import { type ForecastSpec, forecastQueues } from './index.ts';

const json = (body: unknown, status: number) =>
  Response.json(body, { status, headers: { 'cache-control': 'no-store' } });

/**
 * `GET /api/forecast[?queue=dm|invitation][&horizonDays=1..90]` → 200 `{ at, clearsAt, queues: [{ queue, clearsAt,
 * pending, accounts: [{ accountId, clearsAt, earliestAt, clearsOn, today, tomorrow, days, blocked, left }] }] }`;
 * 400 with the zod message for anything else; 401 without the app's key.
 */
export function forecastRoute(specs: ForecastSpec[]) {
  const query = z.strictObject({
    queue: z.enum(specs.map((s) => s.queue) as [string, ...string[]]).optional(),
    horizonDays: z.coerce.number().int().min(1).max(90).optional(),
  });
  return async (request: Request): Promise<Response> => {
    const auth = await authorize(request);
    if (!auth.ok) return refusal(auth);
    const parsed = query.safeParse(Object.fromEntries(new URL(request.url).searchParams));
    if (!parsed.success) {
      const error = parsed.error.issues.map((i) => `${i.path.join('.') || 'query'}: ${i.message}`).join('; ');
      return json({ error }, 400);
    }
    const chosen = parsed.data.queue ? specs.filter((s) => s.queue === parsed.data.queue) : specs;
    try {
      return json(await forecastQueues(await getDb(), chosen, { horizonDays: parsed.data.horizonDays }), 200);
    } catch (e) {
      log('error', 'forecast failed', { error: toErrorMessage(e) });
      return json({ error: 'internal error' }, 500);
    }
  };
}
