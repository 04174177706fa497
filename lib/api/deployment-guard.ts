import { cannotRunJobs } from '../deployment.ts';
import { log } from '../log.ts';
import { authorize, refusal } from './authorize.ts';

/**
 * Wraps an app API route so that a deployment without a database or provider (production without them, see
 * lib/deployment.ts) answers `500 { error: <the reason> }` before anything is opened, as the cron routes do. The
 * caller is authorized first, so only a caller who may use the API learns how the deployment is configured.
 */
export function unlessMisconfigured<A extends unknown[]>(
  handler: (request: Request, ...rest: A) => Promise<Response>,
): (request: Request, ...rest: A) => Promise<Response> {
  return async (request, ...rest) => {
    const auth = await authorize(request);
    if (!auth.ok) return refusal(auth);
    const missing = cannotRunJobs();
    if (missing) {
      log('error', 'api refused: misconfigured', { path: new URL(request.url).pathname, problem: missing });
      return Response.json({ error: missing }, { status: 500, headers: { 'cache-control': 'no-store' } });
    }
    return handler(request, ...rest);
  };
}
