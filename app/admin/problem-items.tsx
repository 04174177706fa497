import { relative, truncate, utc } from '../../lib/admin/format.ts';
import type { ProblemItem, QueueDepth } from '../../lib/admin/queries.ts';
import type { Explanation } from '../../lib/queue-reasons/index.ts';
import { reasonInWords } from '../../lib/queue-reasons/words.ts';
import { ActionForm } from './action-form.tsx';
import { resolveQueueItem } from './actions.ts';
import { queueLabel, reasonLabel } from './queue-depth.tsx';
import { StatusBadge } from './status-badge.tsx';

const SHOWN = 5;
const MAYBE_SENT =
  'This one may already be on LinkedIn: its outcome is unknown. Retrying can send it a second time. Retry anyway?';

/**
 * Uncertain, then failed items of every queue, with the operator's three answers; the first few shown, the rest folded.
 * The counts are the queues' exact totals (the list is bounded).
 */
export function ProblemItems({
  items,
  queues,
  now,
  reasons = {},
}: {
  items: ProblemItem[];
  queues: QueueDepth[];
  now: Date;
  /** `<kind>:<id>` → the item's reason (queue_explain). */
  reasons?: Record<string, Explanation>;
}) {
  const counts = {
    uncertain: queues.reduce((n, q) => n + q.uncertain, 0),
    failed: queues.reduce((n, q) => n + q.failed, 0),
  };
  const total = counts.uncertain + counts.failed;
  // "Mark sent", "Mark published": each queue's own word for done.
  const doneWord = new Map(queues.map((q) => [q.queue, q.doneStatus]));
  return (
    <section aria-labelledby="problems">
      <h2 id="problems">
        Needs attention: {counts.uncertain} uncertain, {counts.failed} failed
      </h2>
      {items.length === 0 ? (
        <p className="muted">Nothing to do.</p>
      ) : (
        <ItemTable items={items.slice(0, SHOWN)} doneWord={doneWord} now={now} reasons={reasons} />
      )}
      {items.length > SHOWN ? (
        <details>
          <summary>
            {items.length - SHOWN} more
            {total > items.length ? ` (the latest ${items.length} of ${total} are listed)` : ''}
          </summary>
          <ItemTable items={items.slice(SHOWN)} doneWord={doneWord} now={now} reasons={reasons} />
        </details>
      ) : null}
    </section>
  );
}

function ItemTable({
  items,
  doneWord,
  now,
  reasons,
}: {
  items: ProblemItem[];
  doneWord: Map<string, string>;
  now: Date;
  reasons: Record<string, Explanation>;
}) {
  return (
    <table className="cards">
      <thead>
        <tr>
          <th>Item</th>
          <th>Status</th>
          <th>Last error</th>
          <th>Updated</th>
          <th>Actions</th>
        </tr>
      </thead>
      <tbody>
        {items.map((item) => {
          const fields = { kind: item.kind, id: item.id };
          const why = reasons[`${item.kind}:${item.id}`];
          return (
            <tr key={`${item.kind}:${item.id}`} data-item={item.id} data-kind={item.kind}>
              <td data-label="Item">
                {queueLabel(item.kind)} · {item.account}
                <div className="muted">
                  {item.target === null ? `for ${item.dueAt ? utc(item.dueAt) : 'no time'}` : `to ${item.target}`}: “
                  {truncate(item.preview, 60)}”
                </div>
              </td>
              <td data-label="Status">
                <StatusBadge status={item.status} />{' '}
                <span className="muted">
                  {item.attempts} {item.attempts === 1 ? 'attempt' : 'attempts'}
                </span>
                {why ? (
                  <div className="why" data-reason={why.reason}>
                    <strong>{reasonLabel(why.reason)}</strong>: {reasonInWords(why.reason, why.detail, now)}
                  </div>
                ) : null}
              </td>
              <td data-label="Last error" className="error-text">
                {truncate(item.lastError, 160)}
              </td>
              <td data-label="Updated" title={utc(item.updatedAt)}>
                {relative(item.updatedAt, now)}
              </td>
              <td className="actions">
                <ActionForm
                  action={resolveQueueItem}
                  fields={{ ...fields, action: 'retry' }}
                  label="Retry"
                  confirm={item.status === 'uncertain' ? MAYBE_SENT : undefined}
                />
                <ActionForm
                  action={resolveQueueItem}
                  fields={{ ...fields, action: 'cancel' }}
                  label="Cancel"
                  variant="danger"
                />
                <ActionForm
                  action={resolveQueueItem}
                  fields={{ ...fields, action: 'mark-sent' }}
                  label={`Mark ${doneWord.get(item.kind) ?? 'done'}`}
                />
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
