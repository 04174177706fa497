/**
 * A cron expression in plain words, for the schedules /admin shows. It covers the shapes a job schedule takes
 * (every N minutes, hourly, daily, on weekdays, monthly) and falls back to the expression itself: a few lines here
 * instead of a dependency (cronstrue) for one label.
 */
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

const num = (field: string) => (/^\d+$/.test(field) ? Number(field) : null);
const step = (field: string) => {
  const m = /^\*\/(\d+)$/.exec(field);
  return m ? Number(m[1]) : null;
};
const pad = (n: number) => String(n).padStart(2, '0');
const plural = (n: number, unit: string) => (n === 1 ? `every ${unit}` : `every ${n} ${unit}s`);

function weekdays(field: string): string | null {
  if (field === '*') return '';
  const names: string[] = [];
  for (const part of field.split(',')) {
    const range = /^(\d)(?:-(\d))?$/.exec(part);
    if (!range) return null;
    const from = Number(range[1]);
    const to = range[2] === undefined ? from : Number(range[2]);
    if (from > 6 || to > 6 || to < from) return null;
    names.push(from === to ? DAYS[from]! : `${DAYS[from]}–${DAYS[to]}`);
  }
  return ` on ${names.join(', ')}`;
}

export function describeCron(expression: string): string {
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 5) return expression;
  const [minute, hour, dom, month, dow] = fields as [string, string, string, string, string];
  const fallback = `cron ${expression} (UTC)`;
  if (month !== '*') return fallback;
  const m = num(minute);
  const h = num(hour);

  if (dom === '*' && dow === '*') {
    if (minute === '*' && hour === '*') return 'every minute';
    if (step(minute) && hour === '*') return plural(step(minute)!, 'minute');
    if (m !== null && hour === '*') return m === 0 ? 'every hour, on the hour' : `every hour at minute ${m}`;
    if (m !== null && step(hour)) return `${plural(step(hour)!, 'hour')} at minute ${m}`;
  }
  if (m === null || h === null) return fallback;
  const time = `${pad(h)}:${pad(m)} UTC`;
  if (dom === '*') {
    const days = weekdays(dow);
    if (days === null) return fallback;
    return days === '' ? `every day at ${time}` : `at ${time}${days}`;
  }
  const d = num(dom);
  return d !== null && dow === '*' ? `on day ${d} of every month at ${time}` : fallback;
}
