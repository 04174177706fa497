import { syncJobs } from '../../../jobs/sync-jobs.ts';
import { unlessMisconfigured } from '../../../lib/api/deployment-guard.ts';
import { enqueueSyncJobRoute } from '../../../lib/sync/api.ts';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';
// Also the limit of the first slice of work that runs after the response (see lib/sync/kick.ts).
export const maxDuration = 60;
export const POST = unlessMisconfigured(enqueueSyncJobRoute(syncJobs, { maxDuration }));
