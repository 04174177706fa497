import type { QueueDepth as Depth } from '../../lib/admin/queries.ts';
import type { WaitingReason } from '../../lib/queue-reasons/index.ts';
import { inWords, reasonInWords } from '../../lib/queue-reasons/words.ts';

/** A reason code as the page says it: 'cap_reached' → "cap reached". */
export const reasonLabel = (reason: string) => reason.replaceAll('_', ' ');

/** A queue's name as the page says it: 'dm' → "DM"/"DMs", 'invitation' → "Invitation"/"Invitations". */
export function queueLabel(queue: string, plural = false): string {
  const words = queue.split('_').join(' ');
  // Two-letter names are abbreviations (DM); longer ones are words.
  const label = words.length <= 2 ? words.toUpperCase() : words.charAt(0).toUpperCase() + words.slice(1);
  return plural ? `${label}s` : label;
}

// word: the queue's own status word, shown on hover. warn: a non-zero count needs an operator (coloured like its badge).
const COLUMNS: { label: string; count: (q: Depth) => number; word?: (q: Depth) => string; warn?: boolean }[] = [
  { label: 'due now', count: (q) => q.due, word: (q) => `${q.waitingStatus}, due` },
  { label: 'waiting (all)', count: (q) => q.waiting, word: (q) => q.waitingStatus },
  { label: 'in flight', count: (q) => q.active, word: (q) => q.activeStatus },
  { label: 'uncertain', count: (q) => q.uncertain, warn: true },
  { label: 'failed', count: (q) => q.failed, warn: true },
  { label: 'done, last 24 h', count: (q) => q.done24h, word: (q) => q.doneStatus },
];

/**
 * One row per account-keyed queue: open items by status (exact), why the waiting ones wait (counted by reason, from
 * the claim's own rules), and what finished in the last 24 hours. Below: a few waiting items of each reason, in words.
 */
export function QueueDepth({
  queues,
  reasons = {},
  now = new Date(),
}: {
  queues: Depth[];
  reasons?: Record<string, WaitingReason[]>;
  now?: Date;
}) {
  return (
    <section aria-labelledby="queues">
      <h2 id="queues">Queues</h2>
      <div className="scroll">
        <table className="numbers">
          <thead>
            <tr>
              <th>Queue</th>
              {COLUMNS.map((c) => (
                <th key={c.label}>{c.label}</th>
              ))}
              <th>waiting, by reason</th>
            </tr>
          </thead>
          <tbody>
            {queues.map((q) => (
              <tr key={q.queue} data-queue={q.queue}>
                <td title={q.table}>{queueLabel(q.queue, true)}</td>
                {COLUMNS.map((c) => (
                  <td key={c.label} title={c.word?.(q)}>
                    {c.warn && c.count(q) > 0 ? <strong className={`s-${c.label}`}>{c.count(q)}</strong> : c.count(q)}
                  </td>
                ))}
                <td className="reasons" data-label="waiting, by reason">
                  {(reasons[q.queue] ?? []).map((r) => (
                    <span key={r.reason} className={`reason r-${r.reason}`} data-reason={r.reason}>
                      {reasonLabel(r.reason)} <strong>{r.n}</strong>
                    </span>
                  ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <WaitingExamples queues={queues} reasons={reasons} now={now} />
    </section>
  );
}

/** A few waiting items of each reason, each with its reason in words (GET /api/<plural>/<id> says the same). */
function WaitingExamples({
  queues,
  reasons,
  now,
}: {
  queues: Depth[];
  reasons: Record<string, WaitingReason[]>;
  now: Date;
}) {
  const rows = queues.flatMap((q) =>
    (reasons[q.queue] ?? []).flatMap((r) => r.examples.map((e) => ({ queue: q.queue, reason: r, example: e }))),
  );
  if (rows.length === 0) return null;
  return (
    <details className="waiting">
      <summary>Why items wait: {rows.length} examples, soonest due first</summary>
      <table className="cards">
        <thead>
          <tr>
            <th>Item</th>
            <th>Reason</th>
            <th>Moves</th>
          </tr>
        </thead>
        <tbody>
          {rows.map(({ queue, reason, example }) => (
            <tr key={`${queue}:${example.id}`} data-waiting-item={example.id} data-reason={reason.reason}>
              <td data-label="Item">
                {queueLabel(queue)} · {example.account}
                <div className="muted">
                  <code>{example.id.slice(0, 8)}</code>
                </div>
              </td>
              <td data-label="Reason">
                <strong>{reasonLabel(reason.reason)}</strong>: {reasonInWords(reason.reason, example.detail, now)}
              </td>
              <td data-label="Moves">
                {inWords(example.detail.until, now) ?? (reason.reason === 'due' ? 'next run' : '—')}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </details>
  );
}
