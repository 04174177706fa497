import type { Metadata } from 'next';
import { z } from 'zod';
import { forecastSpecs } from '../../jobs/forecast.ts';
import { jobs } from '../../jobs/index.ts';
import { adminJobs } from '../../lib/admin/jobs.ts';
import { adminOverview, adminReasons, recentRuns } from '../../lib/admin/queries.ts';
import { requireAdminPage } from '../../lib/admin/session.ts';
import { getDb, resolveDbConfig } from '../../lib/db/index.ts';
import { demoParts } from '../../lib/deployment.ts';
import { forecastQueues } from '../../lib/forecast/index.ts';
import { toErrorMessage } from '../../lib/log.ts';
import { retentionOverview } from '../../lib/retention/queries.ts';
import { retentionDays } from '../../lib/retention/settings.ts';
import { AccountUsage } from './account-usage.tsx';
import { AutoRefresh } from './auto-refresh.tsx';
import { DailyChart } from './daily-chart.tsx';
import { DemoBanner } from './demo-banner.tsx';
import { JobsTable } from './jobs-table.tsx';
import { OpenBanner } from './open-banner.tsx';
import { ProblemItems } from './problem-items.tsx';
import { QueueDepth } from './queue-depth.tsx';
import { RecentRuns, RUN_STATUSES } from './recent-runs.tsx';
import { RetentionTable } from './retention-table.tsx';
import './admin.css';

export const dynamic = 'force-dynamic';
// Run now runs the job inside this page's server action: allow the longest job's maxDuration.
export const maxDuration = 300;
export const metadata: Metadata = { title: 'Admin · pg-cron-jobs', robots: { index: false, follow: false } };

type SearchParams = Promise<Record<string, string | string[] | undefined>>;

export default async function AdminPage({ searchParams }: { searchParams: SearchParams }) {
  const { open } = await requireAdminPage();
  const now = new Date();
  const list = adminJobs(jobs, now);
  const names = list.map((j) => j.job);
  // An unknown job or status in the URL is ignored rather than an error page.
  const filter = z
    .object({
      job: z
        .enum(names as [string, ...string[]])
        .optional()
        .catch(undefined),
      status: z.enum(RUN_STATUSES).optional().catch(undefined),
    })
    .parse(await searchParams);

  let body: React.ReactNode;
  try {
    const db = await getDb();
    const [overview, runs, kept] = await Promise.all([
      adminOverview(db, { jobs: names, now }),
      recentRuns(db, { ...filter, limit: 50 }),
      retentionOverview(db, retentionDays(), now),
    ]);
    // Why items wait and when the backlogs clear: the claim's own rules (lib/queue-reasons, lib/forecast).
    const [reasons, forecast] = await Promise.all([
      adminReasons(db, {
        queues: overview.queues,
        problems: overview.problems,
        accountIds: overview.accounts.map((a) => a.id),
        now,
      }),
      forecastQueues(db, forecastSpecs, { now }),
    ]);
    body = (
      <>
        <JobsTable list={list} state={overview.jobs} now={now} />
        {/* Full width, not side by side: both tables grow with the queues (a column per status, a column per cap). */}
        <QueueDepth queues={overview.queues} reasons={reasons.waiting} now={now} />
        <AccountUsage
          accounts={overview.accounts}
          queues={overview.queues}
          total={overview.accountCount}
          resets={reasons.resets}
          forecasts={forecast.queues}
          now={now}
        />
        <DailyChart days={overview.daily} />
        <ProblemItems items={overview.problems} queues={overview.queues} now={now} reasons={reasons.problems} />
        <RecentRuns runs={runs} jobs={names} job={filter.job} status={filter.status} now={now} />
        <RetentionTable rows={kept} />
      </>
    );
  } catch (e) {
    body = (
      <p className="banner bad" role="alert">
        The database did not answer: {toErrorMessage(e)}
      </p>
    );
  }

  return (
    <main className="admin">
      {open ? <OpenBanner /> : null}
      <DemoBanner parts={demoParts()} />
      <header className="top">
        <h1>pg-cron-jobs · admin</h1>
        <span className="muted">
          {resolveDbConfig().transport ?? 'no database'} · rendered {now.toISOString().slice(11, 19)} UTC
        </span>
        <AutoRefresh seconds={5} />
      </header>
      {body}
    </main>
  );
}
