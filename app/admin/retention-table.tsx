import type { RetentionRow } from '../../lib/retention/queries.ts';

const LABELS: Record<RetentionRow['kind'], string> = {
  skipped_runs: 'skipped runs',
  runs: 'finished runs',
  webhook_deliveries: 'delivered webhooks',
  sync_jobs: 'completed syncs',
};

/** What the daily retention job keeps: per kind, its retention, the rows kept and the oldest, and what is due to go. */
export function RetentionTable({ rows }: { rows: RetentionRow[] }) {
  return (
    <section aria-labelledby="retention">
      <h2 id="retention">History kept</h2>
      <div className="scroll">
        <table className="numbers">
          <thead>
            <tr>
              <th>What</th>
              <th>kept for</th>
              <th>rows</th>
              <th>oldest</th>
              <th>past retention</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.kind} data-retention={r.kind}>
                <td title={r.table}>{LABELS[r.kind]}</td>
                <td>{r.keepDays} days</td>
                <td>{r.kept}</td>
                <td>{r.oldestAt ? r.oldestAt.slice(0, 10) : '—'}</td>
                <td>{r.pastRetention > 10_000 ? '> 10,000' : r.pastRetention}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p className="muted">
        Failed and uncertain items, each job&apos;s latest run and latest success are never pruned.
      </p>
    </section>
  );
}
