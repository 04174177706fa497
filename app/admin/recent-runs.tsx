import { duration, relative, truncate, utc } from '../../lib/admin/format.ts';
import type { RunRow } from '../../lib/admin/queries.ts';
import { StatusBadge } from './status-badge.tsx';

export const RUN_STATUSES = ['running', 'ok', 'partial', 'skipped', 'error'] as const;

/**
 * A row that records consecutive zero-work (or skipped) calls: "×5, 12:00–12:04 UTC" (first call – latest call; the
 * date is repeated only when the range spans days).
 */
export function callRange(calls: number, first: string, last: string): string {
  const from = utc(first);
  const to = utc(last);
  const sameDay = from.slice(0, 10) === to.slice(0, 10);
  return `×${calls}, ${from.replace(' UTC', '')}–${sameDay ? to.slice(11) : to}`;
}

/** The last 50 runs, filterable by job and status through the query string (a plain GET form). */
export function RecentRuns(props: { runs: RunRow[]; jobs: string[]; job?: string; status?: string; now: Date }) {
  const { runs, jobs, job, status, now } = props;
  return (
    <section aria-labelledby="runs">
      <h2 id="runs">Recent runs</h2>
      <form method="get" action="/admin#runs" className="filters">
        <label>
          Job{' '}
          <select name="job" defaultValue={job ?? ''}>
            <option value="">all</option>
            {jobs.map((j) => (
              <option key={j}>{j}</option>
            ))}
          </select>
        </label>
        <label>
          Status{' '}
          <select name="status" defaultValue={status ?? ''}>
            <option value="">all</option>
            {RUN_STATUSES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <button type="submit">Filter</button>
        {job || status ? <a href="/admin#runs">clear</a> : null}
      </form>
      <div className="scroll">
        <table className="runs">
          <thead>
            <tr>
              <th>Started</th>
              <th>Job</th>
              <th>Trigger</th>
              <th>Status</th>
              <th>Duration</th>
              <th title="claimed / succeeded / failed / retried / uncertain">Items</th>
              <th>Left</th>
              <th>Note</th>
            </tr>
          </thead>
          <tbody>
            {runs.length === 0 ? (
              <tr>
                <td colSpan={8} className="muted">
                  No runs{job || status ? ' match' : ' yet'}.
                </td>
              </tr>
            ) : null}
            {runs.map((r) => (
              <tr key={r.id} data-run={r.id} data-job={r.job} data-status={r.status}>
                <td title={utc(r.started_at)}>
                  {relative(r.started_at, now)}
                  {r.calls > 1 ? (
                    <div className="muted" data-calls={r.calls} title={`${r.calls} calls that found nothing to do`}>
                      {callRange(r.calls, r.first_started_at ?? r.started_at, r.started_at)}
                    </div>
                  ) : null}
                </td>
                <td>{r.job}</td>
                <td>{r.trigger + (r.depth > 0 ? ` #${r.depth}` : '')}</td>
                <td>
                  <StatusBadge status={r.status} />
                </td>
                <td>{duration(r.duration_ms)}</td>
                <td className="mono">
                  {r.claimed} / {r.succeeded} / {r.failed} / {r.retried} / {r.uncertain}
                </td>
                <td>{r.remaining}</td>
                <td className={r.error ? 'error-text' : 'muted'} title={r.error ?? undefined}>
                  {truncate(r.error ?? r.reason, 80)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
