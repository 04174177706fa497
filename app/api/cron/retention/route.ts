import { retention } from '../../../../jobs/retention.ts';
import { cronRoute } from '../../../../lib/cron/route.ts';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';
export const maxDuration = 60;
export const { GET, POST } = cronRoute(retention);
