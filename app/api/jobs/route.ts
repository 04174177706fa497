import { jobs } from '../../../jobs/index.ts';
import { operatorApi } from '../../../lib/admin/operator-api.ts';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';
export const { GET, POST, PUT, PATCH, DELETE } = operatorApi(jobs).jobs;
