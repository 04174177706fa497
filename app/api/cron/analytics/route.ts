import { analytics } from '../../../../jobs/analytics.ts';
import { cronRoute } from '../../../../lib/cron/route.ts';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';
export const maxDuration = 300;
export const { GET, POST } = cronRoute(analytics);
