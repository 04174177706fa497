import { unlessMisconfigured } from '../../../../lib/api/deployment-guard.ts';
import { syncJobStatus } from '../../../../lib/sync/api.ts';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';
export const GET = unlessMisconfigured(syncJobStatus);
