/** Step sizes per power of ten: 1, 2, 5, 10, 20, 50, … are whole numbers that read well on an axis. */
const STEPS = [1, 2, 5];

/**
 * The y-axis ticks of a chart of counts: distinct whole numbers from 0 up to the first tick at or above `max`, evenly
 * spaced by the smallest "nice" step that needs at most `maxIntervals` intervals. The last tick is the top of the
 * scale, so the bars and the grid lines agree. A maximum of 0 or 1 gives `[0, 1]`: rounding fractions of the maximum
 * (the old `0, 0.5, 1` × max) printed `0, 1, 1`.
 */
export function countTicks(max: number, maxIntervals = 4): number[] {
  const top = Math.max(1, Math.ceil(Number.isFinite(max) ? max : 0));
  const intervals = Math.max(1, Math.floor(maxIntervals));
  let step = 1;
  search: for (let magnitude = 1; ; magnitude *= 10) {
    for (const m of STEPS) {
      step = m * magnitude;
      if (Math.ceil(top / step) <= intervals) break search;
    }
  }
  return Array.from({ length: Math.ceil(top / step) + 1 }, (_, i) => i * step);
}
