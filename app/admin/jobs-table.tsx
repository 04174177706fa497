import { duration, relative, utc } from '../../lib/admin/format.ts';
import { type AdminJob, isLostRun } from '../../lib/admin/jobs.ts';
import type { JobOverview } from '../../lib/admin/queries.ts';
import { ActionForm } from './action-form.tsx';
import { runNow, setEnabled } from './actions.ts';
import { StatusBadge } from './status-badge.tsx';

/** Every schedule of vercel.json: when it runs, how its last run went, and Run now / Pause / Resume. */
export function JobsTable({ list, state, now }: { list: AdminJob[]; state: JobOverview[]; now: Date }) {
  return (
    <section aria-labelledby="jobs">
      <h2 id="jobs">Jobs</h2>
      <div className="scroll">
        <table className="cards">
          <thead>
            <tr>
              <th>Job</th>
              <th>Schedule</th>
              <th>Last run</th>
              <th>Last success</th>
              <th>Next run</th>
              <th>Actions</th>
            </tr>
          </thead>
          <tbody>
            {list.map((j) => {
              const s = state.find((x) => x.job === j.job);
              const enabled = s?.enabled ?? true;
              const last = s?.lastRun ?? null;
              const lost = last ? isLostRun(last.status, last.startedAt, j.definition, now) : false;
              return (
                <tr key={j.job} data-job={j.job}>
                  <td data-label="Job">
                    <strong>{j.job}</strong>
                    <div className="muted">
                      <code>{j.path ?? 'not scheduled'}</code>
                    </div>
                  </td>
                  <td data-label="Schedule">
                    {j.description}
                    <div className="muted">
                      <code>{j.schedule ?? '—'}</code>
                      {j.timezone ? ` · ${j.timezone}` : ''}
                    </div>
                  </td>
                  <td data-label="Last run">
                    {last ? (
                      <>
                        <StatusBadge
                          status={lost ? 'lost' : last.status}
                          title={last.error ?? last.reason ?? undefined}
                        />{' '}
                        <span title={utc(last.startedAt)}>{relative(last.startedAt, now)}</span>
                        <div className="muted">
                          {last.trigger} · {duration(last.durationMs)}
                          {last.reason ? ` · ${last.reason}` : ''}
                        </div>
                      </>
                    ) : (
                      <span className="muted">never</span>
                    )}
                  </td>
                  <td data-label="Last success" title={utc(s?.lastSuccessAt)}>
                    {relative(s?.lastSuccessAt, now)}
                  </td>
                  <td data-label="Next run">
                    {!enabled ? (
                      <StatusBadge status="paused" />
                    ) : j.nextRunAt ? (
                      <>
                        {relative(j.nextRunAt, now)}
                        <div className="muted">
                          {j.timezone && j.timezone !== 'UTC' ? j.nextRunLocal : utc(j.nextRunAt)}
                        </div>
                      </>
                    ) : (
                      '—'
                    )}
                  </td>
                  <td className="actions">
                    <div className="action-bar">
                      <ActionForm
                        action={runNow}
                        fields={{ job: j.job }}
                        label="Run now"
                        name={`Run ${j.job} now`}
                        pendingLabel="Running…"
                        variant="primary"
                      />
                      <ActionForm
                        action={setEnabled}
                        fields={{ job: j.job, enabled: String(!enabled) }}
                        label={enabled ? 'Pause' : 'Resume'}
                        name={`${enabled ? 'Pause' : 'Resume'} ${j.job}`}
                      />
                    </div>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </section>
  );
}
