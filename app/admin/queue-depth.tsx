import type { AdminOverview } from '../../lib/admin/queries.ts';

/** Open items by status (exact), and what finished in the last 24 hours. */
export function QueueDepth({ dms, posts }: { dms: AdminOverview['dmQueue']; posts: AdminOverview['posts'] }) {
  const rows: [string, number, number | null][] = [
    ['due now', dms.due, posts.due],
    ['waiting (all)', dms.pending, posts.scheduled],
    ['in flight', dms.sending, posts.publishing],
    ['uncertain', dms.uncertain, posts.uncertain],
    ['failed', dms.failed, posts.failed],
    ['done, last 24 h', dms.sent24h, posts.published24h],
  ];
  return (
    <section aria-labelledby="queues">
      <h2 id="queues">Queues</h2>
      <table className="numbers">
        <thead>
          <tr>
            <th>Status</th>
            <th>DMs</th>
            <th>Posts</th>
          </tr>
        </thead>
        <tbody>
          {rows.map(([label, dm, post]) => (
            <tr
              key={label}
              className={(label === 'uncertain' || label === 'failed') && dm + (post ?? 0) > 0 ? 'warn' : ''}
            >
              <td>{label}</td>
              <td>{dm}</td>
              <td>{post ?? '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
