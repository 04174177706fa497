import type { JobDefinition } from '../lib/cron/job.ts';
import { analytics } from './analytics.ts';
import { dmQueue } from './dm-queue.ts';
import { invitationsJob } from './invitations.ts';
import { postScheduler } from './post-scheduler.ts';
import { retention } from './retention.ts';
import { syncJobs } from './sync-jobs.ts';
import { webhooks } from './webhooks.ts';

/** Every job, by name. A test checks this against vercel.json and the route files. */
export const jobs: Record<string, JobDefinition> = {
  [dmQueue.name]: dmQueue,
  [invitationsJob.name]: invitationsJob,
  [postScheduler.name]: postScheduler,
  [analytics.name]: analytics,
  [syncJobs.name]: syncJobs,
  [webhooks.name]: webhooks,
  [retention.name]: retention,
};
