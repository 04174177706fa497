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
  const max = Math.max(1, ...days.flatMap((d) => SERIES.map((s) => d[s.key])));
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
        {[0, 0.5, 1].map((f) => (
          <g key={f}>
            <line x1={LEFT} x2={W} y1={y(max * f)} y2={y(max * f)} className="grid" />
            <text x={LEFT - 4} y={y(max * f) + 4} className="axis" textAnchor="end">
              {Math.round(max * f)}
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
