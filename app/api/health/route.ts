import { healthReport } from '../../../lib/health.ts';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

/** No auth: it reveals job names and times, nothing else. 503 when the database is unreachable or a job is overdue. */
export async function GET() {
  const report = await healthReport();
  return Response.json(report, {
    status: report.status === 'ok' ? 200 : 503,
    headers: { 'cache-control': 'no-store' },
  });
}
