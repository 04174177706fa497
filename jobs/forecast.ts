import type { ForecastSpec } from '../lib/forecast/index.ts';
import { dmQueue } from './dm-queue.ts';
import { invitationsJob } from './invitations.ts';

/** The capped queues whose backlog /admin and GET /api/forecast forecast, each with the job that drains it. */
export const forecastSpecs: ForecastSpec[] = [
  { queue: 'dm', period: 'day', job: dmQueue },
  { queue: 'invitation', period: 'week', job: invitationsJob },
];
