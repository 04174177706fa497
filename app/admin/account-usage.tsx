import type { AccountUsage as Usage } from '../../lib/admin/queries.ts';
import { StatusBadge } from './status-badge.tsx';

/** DMs counted against each account's daily cap today, in the account's own time zone (as the claim counts them). */
export function AccountUsage({ accounts, total }: { accounts: Usage[]; total: number }) {
  return (
    <section aria-labelledby="usage">
      <h2 id="usage">Today's DMs per account</h2>
      <table>
        <thead>
          <tr>
            <th>Account</th>
            <th>Local day</th>
            <th>Used / cap</th>
          </tr>
        </thead>
        <tbody>
          {accounts.map((a) => (
            <tr key={a.id}>
              <td>
                {a.name}{' '}
                {a.status === 'active' ? null : <StatusBadge status={a.status} title={a.statusReason ?? undefined} />}
              </td>
              <td>
                {a.localDay}
                <div className="muted">{a.timezone}</div>
              </td>
              <td>
                <meter
                  min={0}
                  max={Math.max(a.limit, 1)}
                  value={a.used}
                  low={a.limit * 0.7}
                  high={a.limit * 0.95}
                  optimum={0}
                />{' '}
                {a.used} / {a.limit}
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
