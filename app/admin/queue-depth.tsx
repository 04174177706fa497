import type { QueueDepth as Depth } from '../../lib/admin/queries.ts';

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

/** One row per account-keyed queue: open items by status (exact), and what finished in the last 24 hours. */
export function QueueDepth({ queues }: { queues: Depth[] }) {
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
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
