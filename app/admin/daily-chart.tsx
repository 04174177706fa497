import { countTicks } from '../../lib/admin/axis-ticks.ts';
import type { DailyFigures } from '../../lib/admin/queries.ts';

const W = 720;
const H = 200;
const LEFT = 36;
const TOP = 12;
const BOTTOM = 24;
const SERIES = [
  { key: 'dmsSent', label: 'DMs sent', className: 'c-sent' },
  { key: 'dmsFailed', label: 'DMs failed', className: 'c-failed' },
  { key: 'postsPublished', label: 'posts published', className: 'c-published' },
] as const;

/** 14 UTC days as grouped bars: plain SVG, sized with attributes (no style attributes, no chart library). */
export function DailyChart({ days }: { days: DailyFigures[] }) {
  const ticks = countTicks(Math.max(0, ...days.flatMap((d) => SERIES.map((s) => d[s.key]))));
  // The scale's top is the last tick (at or above the highest bar), so grid lines and bars agree.
  const max = ticks.at(-1) ?? 1;
  const plotH = H - TOP - BOTTOM;
  const group = (W - LEFT) / Math.max(days.length, 1);
  const bar = (group - 6) / SERIES.length;
  const y = (v: number) => TOP + plotH - (v / max) * plotH;
  const live = days.filter((d) => d.source === 'live').length;
  return (
    <section aria-labelledby="daily">
      <h2 id="daily">Last 14 days (UTC)</h2>
      <p className="legend">
        {SERIES.map((s) => (
          <span key={s.key}>
            <svg width="10" height="10" aria-hidden="true">
              <rect width="10" height="10" className={s.className} />
            </svg>{' '}
            {s.label}
          </span>
        ))}
      </p>
      <svg
        viewBox={`0 0 ${W} ${H}`}
        className="chart"
        role="img"
        aria-label="DMs sent, DMs failed and posts published per day"
      >
        {ticks.map((t) => (
          <g key={t} data-tick={t}>
            <line x1={LEFT} x2={W} y1={y(t)} y2={y(t)} className="grid" />
            <text x={LEFT - 4} y={y(t) + 4} className="axis" textAnchor="end">
              {t}
            </text>
          </g>
        ))}
        {days.map((d, i) => {
          const x0 = LEFT + i * group + 3;
          return (
            <g key={d.day}>
              {SERIES.map((s, k) => (
                <rect
                  key={s.key}
                  x={x0 + k * bar}
                  y={y(d[s.key])}
                  width={bar - 1}
                  height={TOP + plotH - y(d[s.key])}
                  className={s.className}
                >
                  <title>{`${d.day}: ${d[s.key]} ${s.label}${d.source === 'live' ? ' (live count)' : ''}`}</title>
                </rect>
              ))}
              <text x={x0 + (group - 6) / 2} y={H - 8} className="axis" textAnchor="middle">
                {d.day.slice(8)}
              </text>
            </g>
          );
        })}
      </svg>
      {live > 0 ? (
        <p className="muted">
          {live === 1 ? 'Today is' : `${live} days are`} counted live from the queue; finished days come from the
          nightly analytics roll-up.
        </p>
      ) : null}
    </section>
  );
}
