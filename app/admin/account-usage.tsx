import type { QueueDepth, QueueUsage, AccountUsage as Usage } from '../../lib/admin/queries.ts';
import { queueLabel } from './queue-depth.tsx';
import { StatusBadge } from './status-badge.tsx';

/** "Mon 30 Nov" for a local date (YYYY-MM-DD); formatted in UTC so the server's own zone cannot shift it. */
function shortDate(day: string): string {
  const d = new Date(`${day}T00:00:00Z`);
  if (Number.isNaN(d.getTime())) return day;
  return d.toLocaleDateString('en-GB', { weekday: 'short', day: 'numeric', month: 'short', timeZone: 'UTC' });
}

interface Column {
  queue: string;
  /** "DMs today", "Invitations this week". */
  heading: string;
  /** The week's start when every account listed shares it: then "from Mon 30 Nov" is said once, in the heading. */
  sharedStart: string | null;
  /** The heading as each cell's label on a phone (where the table header is hidden). */
  label: string;
}

function columnsFor(queues: QueueDepth[], accounts: Usage[]): Column[] {
  return queues
    .filter((q) => q.capPeriod !== null)
    .map((q) => {
      const starts = new Set(
        accounts.flatMap((a) => a.usage.filter((u) => u.queue === q.queue)).map((u) => u.localPeriodStart),
      );
      const sharedStart = q.capPeriod === 'week' && starts.size === 1 ? [...starts][0]! : null;
      const when = q.capPeriod === 'day' ? 'today' : 'this week';
      const heading = `${queueLabel(q.queue, true)} ${when}`;
      const label = sharedStart ? `${heading} (from ${shortDate(sharedStart)})` : heading;
      return { queue: q.queue, heading, sharedStart, label };
    });
}

function UsageCell({ usage, column }: { usage: QueueUsage | undefined; column: Column }) {
  if (!usage) return <td data-label={column.label}>—</td>;
  return (
    <td data-label={column.label}>
      <meter
        min={0}
        max={Math.max(usage.limit, 1)}
        value={usage.used}
        low={usage.limit * 0.7}
        high={usage.limit * 0.95}
        optimum={0}
      />{' '}
      {usage.used} / {usage.limit}
      {usage.period === 'week' && usage.localPeriodStart !== column.sharedStart ? (
        <div className="muted">from {shortDate(usage.localPeriodStart)}</div>
      ) : null}
    </td>
  );
}

/**
 * Each account's use of every capped queue in its current local day or week (Monday 00:00), in the account's own
 * time zone, counted as the claim counts it.
 */
export function AccountUsage({ accounts, queues, total }: { accounts: Usage[]; queues: QueueDepth[]; total: number }) {
  const columns = columnsFor(queues, accounts);
  return (
    <section aria-labelledby="usage">
      <h2 id="usage">Caps per account</h2>
      <table className="cards">
        <thead>
          <tr>
            <th>Account</th>
            <th>Local day</th>
            {columns.map((c) => (
              <th key={c.queue} data-queue={c.queue}>
                {c.heading}
                {c.sharedStart ? <div className="muted">from {shortDate(c.sharedStart)}</div> : null}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {accounts.map((a) => (
            <tr key={a.id} data-account={a.id}>
              <td data-label="Account">
                {a.name}{' '}
                {a.status === 'active' ? null : <StatusBadge status={a.status} title={a.statusReason ?? undefined} />}
              </td>
              <td data-label="Local day">
                {a.localDay}
                <div className="muted">{a.timezone}</div>
              </td>
              {columns.map((c) => (
                <UsageCell key={c.queue} column={c} usage={a.usage.find((u) => u.queue === c.queue)} />
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      {total > accounts.length ? (
        <p className="muted">
          First {accounts.length} of {total} accounts by name.
        </p>
      ) : null}
    </section>
  );
}
