import { jobs } from '../../../../../jobs/index.ts';
import { operatorApi } from '../../../../../lib/admin/operator-api.ts';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';
// POST /api/jobs/<job>/run runs the job here, on its own budget: allow the longest job's maxDuration.
export const maxDuration = 300;
export const { GET, POST, PUT, PATCH, DELETE } = operatorApi(jobs).action;
