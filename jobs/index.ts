import type { JobDefinition } from '../lib/cron/job.ts';
import { dmQueue } from './dm-queue.ts';

/** Every job, by name. A test checks this against vercel.json and the route files. */
export const jobs: Record<string, JobDefinition> = {
  [dmQueue.name]: dmQueue,
};
