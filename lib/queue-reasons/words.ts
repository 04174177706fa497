import type { Reason, ReasonDetail } from './index.ts';

/** "in 3 h 12 min", "in 45 s", "3 min ago": how far an instant is from now, to the minute past an hour. */
export function inWords(iso: string | null | undefined, now: Date): string | null {
  if (!iso) return null;
  const at = new Date(iso).getTime();
  if (Number.isNaN(at)) return null;
  const ms = at - now.getTime();
  const abs = Math.abs(ms);
  const mins = Math.round(abs / 60_000);
  let text: string;
  if (abs < 60_000) text = `${Math.max(1, Math.round(abs / 1000))} s`;
  else if (mins < 60) text = `${mins} min`;
  else if (mins < 48 * 60) text = `${Math.floor(mins / 60)} h${mins % 60 ? ` ${mins % 60} min` : ''}`;
  else text = `${Math.floor(mins / 1440)} d ${Math.floor((mins % 1440) / 60)} h`;
  return ms < 0 ? `${text} ago` : `in ${text}`;
}

function at(iso: string | undefined, now: Date): string {
  if (!iso) return 'an unknown time';
  const d = new Date(iso);
  return `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC (${inWords(iso, now)})`;
}

const hour = (h: number | undefined) => `${String(h ?? 0).padStart(2, '0')}:00`;

/** One sentence an operator can act on, from a reason and its figures. */
export function reasonInWords(reason: Reason, d: ReasonDetail, now: Date): string {
  switch (reason) {
    case 'job_paused':
      return `The job ${d.job ?? ''} is paused: nothing is sent until it is resumed.`;
    case 'account_disconnected':
    case 'account_paused':
      return `The account is ${d.accountStatus ?? reason.slice(8)}${d.since ? ` since ${at(d.since, now)}` : ''}${
        d.statusReason ? `: ${d.statusReason}` : ''
      }. Its items wait until it is active again.`;
    case 'scheduled':
      return `Scheduled for ${at(d.until, now)}.`;
    case 'backoff':
      return `Attempt ${d.attempt ?? '?'} of ${d.maxAttempts ?? '?'} failed; the next one at ${at(d.until, now)}${
        d.lastError ? ` (last error: ${d.lastError})` : ''
      }.`;
    case 'retry_after':
      return `The account rests after a rate limit until ${at(d.until, now)}.`;
    case 'cap_reached':
      return `The ${d.period === 'week' ? 'weekly' : 'daily'} cap is used up for it (${d.used ?? 0}/${d.limit ?? 0} used${
        d.turn && d.remaining ? `, ${d.remaining} left and it is number ${d.turn}` : ''
      }); it resets at ${at(d.until, now)}.`;
    case 'outside_window':
      return `Outside the sending window ${hour(d.windowStartHour)}–${hour(d.windowEndHour)} (${d.timezone ?? 'UTC'}); it opens at ${at(d.until, now)}.`;
    case 'pacing':
      return `Paced: one item every ${d.minIntervalSeconds ?? 0} s${d.jitterSeconds ? ` (+ up to ${d.jitterSeconds} s)` : ''}; next slot ${at(d.until, now)}.`;
    case 'due':
      return 'Due: the next run sends it.';
    case 'leased':
      return `Being sent by run ${d.runId ?? '?'}; its lease ends ${at(d.until, now)}${
        d.expired ? ' (expired: the next run marks it uncertain)' : ''
      }.`;
    case 'uncertain':
      return 'The outcome of its call is unknown: check LinkedIn, then Mark sent, Retry (may send it twice) or Cancel.';
    case 'failed':
      return `Failed${d.lastError ? `: ${d.lastError}` : ''}. Retry, Mark sent or Cancel.`;
    case 'done':
      return `Done ${d.doneAt ? at(d.doneAt, now) : ''}.`.replace(' .', '.');
    case 'cancelled':
      return 'Cancelled by the operator or the app; it will not be sent.';
    case 'draft':
      return 'A draft: it is not scheduled.';
  }
}
