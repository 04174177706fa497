import { forecastSpecs } from '../../../jobs/forecast.ts';
import { unlessMisconfigured } from '../../../lib/api/deployment-guard.ts';
import { forecastRoute } from '../../../lib/forecast/api.ts';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';
/** When each account's backlog of DMs and invitations clears: lib/forecast. */
export const GET = unlessMisconfigured(forecastRoute(forecastSpecs));
