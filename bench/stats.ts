/** Small statistics helpers: every figure the bench prints is min / median / max over its runs. */

export interface Spread {
  min: number;
  median: number;
  max: number;
  runs: number;
}

export function spread(values: number[]): Spread {
  if (values.length === 0) return { min: Number.NaN, median: Number.NaN, max: Number.NaN, runs: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  return { min: sorted[0]!, median: quantile(sorted, 0.5), max: sorted[sorted.length - 1]!, runs: sorted.length };
}

/** Linear interpolation between closest ranks; `sorted` must be ascending. */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export function percentiles(samples: number[], qs: number[]): number[] {
  const sorted = [...samples].sort((a, b) => a - b);
  return qs.map((q) => quantile(sorted, q));
}

/** A number with a sensible number of digits for a table cell. */
export function fmt(n: number, digits?: number): string {
  if (!Number.isFinite(n)) return '—';
  const d = digits ?? (Math.abs(n) >= 100 ? 0 : Math.abs(n) >= 10 ? 1 : 2);
  return n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
}

/** `min / median / max` in one cell. */
export function fmtSpread(s: Spread, digits?: number): string {
  return `${fmt(s.min, digits)} / **${fmt(s.median, digits)}** / ${fmt(s.max, digits)}`;
}

/** Milliseconds since an arbitrary origin, high resolution. */
export const now = (): number => performance.now();

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
