import { utc } from '../../lib/admin/format.ts';
import type { QueueDepth, QueueUsage, AccountUsage as Usage } from '../../lib/admin/queries.ts';
import type { AccountForecast, QueueForecast } from '../../lib/forecast/index.ts';
import { inWords } from '../../lib/queue-reasons/words.ts';
import { queueLabel, reasonLabel } from './queue-depth.tsx';
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

function UsageCell({
  usage,
  column,
  resetsAt,
  now,
}: {
  usage: QueueUsage | undefined;
  column: Column;
  resetsAt: string | null | undefined;
  now: Date;
}) {
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
      {resetsAt ? (
        <div className="muted resets" title={utc(resetsAt)}>
          resets {utc(resetsAt)} ({inWords(resetsAt, now)})
        </div>
      ) : null}
    </td>
  );
}

/**
 * Each account's use of every capped queue in its current local day or week (Monday 00:00), in the account's own
 * time zone, counted as the claim counts it.
 */
export function AccountUsage({
  accounts,
  queues,
  total,
  resets = {},
  forecasts = [],
  now = new Date(),
}: {
  accounts: Usage[];
  queues: QueueDepth[];
  total: number;
  /** accountId → queue → when the cap's period ends (lib/admin/queries.ts adminReasons). */
  resets?: Record<string, Record<string, string | null>>;
  /** The backlog forecast of each capped queue (lib/forecast). */
  forecasts?: QueueForecast[];
  now?: Date;
}) {
  const columns = columnsFor(queues, accounts);
  const byAccount = new Map<string, { queue: string; f: AccountForecast }[]>();
  for (const q of forecasts) {
    for (const f of q.accounts) {
      if (!byAccount.has(f.accountId)) byAccount.set(f.accountId, []);
      byAccount.get(f.accountId)!.push({ queue: q.queue, f });
    }
  }
  return (
    <section aria-labelledby="usage">
      <h2 id="usage">Caps per account</h2>
      <Overall forecasts={forecasts} now={now} />
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
            <th>Backlog clears</th>
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
                <UsageCell
                  key={c.queue}
                  column={c}
                  usage={a.usage.find((u) => u.queue === c.queue)}
                  resetsAt={resets[a.id]?.[c.queue]}
                  now={now}
                />
              ))}
              <td data-label="Backlog clears" className="forecast">
                {(byAccount.get(a.id) ?? []).map(({ queue, f }) => (
                  <div key={queue} data-forecast={queue}>
                    {queueLabel(queue, true)}: <ClearsOn f={f} />
                  </div>
                ))}
                {byAccount.has(a.id) ? null : <span className="muted">nothing waiting</span>}
              </td>
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

/** "Thu 5 Mar (today 10, tomorrow 10)", or why it does not clear. */
function ClearsOn({ f }: { f: AccountForecast }) {
  if (f.blocked)
    return (
      <span className="warn-text">
        never while {reasonLabel(f.blocked).replace('account ', 'the account is ').replace('job ', 'the job is ')}
      </span>
    );
  const counts = (
    <span className="muted">
      {' '}
      · today {f.today}, tomorrow {f.tomorrow}
    </span>
  );
  if (!f.clearsOn)
    return (
      <>
        not within the forecast ({f.left} left){counts}
      </>
    );
  const range = f.earliestAt && f.earliestAt !== f.clearsAt ? ` (from ${utc(f.earliestAt)}, pacing jitter)` : '';
  return (
    <>
      <span title={`${utc(f.clearsAt)}${range}`}>on {shortDate(f.clearsOn)}</span>
      {counts}
    </>
  );
}

/** The whole queue's "backlog clears on …", per forecast queue. */
function Overall({ forecasts, now }: { forecasts: QueueForecast[]; now: Date }) {
  if (forecasts.length === 0) return null;
  return (
    <p className="forecast-overall">
      {forecasts.map((q) => (
        <span key={q.queue} data-forecast-overall={q.queue}>
          {queueLabel(q.queue, true)}: {q.pending} waiting,{' '}
          {q.pending === 0
            ? 'nothing to clear'
            : q.clearsAt
              ? `backlog clears on ${utc(q.clearsAt)} (${inWords(q.clearsAt, now)})`
              : `backlog does not clear within ${q.horizonDays} days (a paused job or account, or the caps)`}
          .{' '}
        </span>
      ))}
    </p>
  );
}
