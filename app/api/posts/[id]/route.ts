import { unlessMisconfigured } from '../../../../lib/api/deployment-guard.ts';
import { itemReasonRoute } from '../../../../lib/queue-reasons/api.ts';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';
/** The item, its status and why it is (not) moving: lib/queue-reasons/api.ts. */
export const GET = unlessMisconfigured(itemReasonRoute('post', 'post'));
