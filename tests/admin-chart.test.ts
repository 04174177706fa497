import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, test } from 'vitest';
import { DailyChart } from '../app/admin/daily-chart.tsx';
import { countTicks } from '../lib/admin/axis-ticks.ts';
import type { DailyFigures } from '../lib/admin/queries.ts';

describe('countTicks: the y-axis of the 14-day chart', () => {
  test.each([0, 1, 2, 3, 4, 5, 7, 10, 11, 99, 100, 101, 1000, 12_345])(
    'max %d: distinct, increasing whole numbers from 0 that cover the max within one step',
    (max) => {
      const ticks = countTicks(max);
      expect(ticks[0]).toBe(0);
      expect(ticks.length).toBeGreaterThanOrEqual(2);
      expect(ticks.length).toBeLessThanOrEqual(5); // at most 4 intervals
      for (const t of ticks) expect(Number.isInteger(t)).toBe(true);
      const steps = ticks.slice(1).map((t, i) => t - ticks[i]!);
      expect(new Set(steps).size).toBe(1); // evenly spaced, hence distinct and increasing
      expect(steps[0]).toBeGreaterThan(0);
      const top = ticks.at(-1)!;
      expect(top).toBeGreaterThanOrEqual(max);
      expect(top - steps[0]!).toBeLessThan(Math.max(max, 1)); // no tick wasted above the max
    },
  );

  test.each([
    [0, [0, 1]],
    [1, [0, 1]],
    [2, [0, 1, 2]],
    [3, [0, 1, 2, 3]],
    [7, [0, 2, 4, 6, 8]],
    [10, [0, 5, 10]],
    [99, [0, 50, 100]],
    [1000, [0, 500, 1000]],
  ])('max %d → %j', (max, expected) => {
    expect(countTicks(max)).toEqual(expected);
  });

  test('fractions, negatives and NaN are read as counts (0 → [0, 1])', () => {
    expect(countTicks(0.3)).toEqual([0, 1]);
    expect(countTicks(-5)).toEqual([0, 1]);
    expect(countTicks(Number.NaN)).toEqual([0, 1]);
    expect(countTicks(6, 2)).toEqual([0, 5, 10]);
  });
});

describe('DailyChart', () => {
  const days = (sent: number[]): DailyFigures[] =>
    sent.map((dmsSent, i) => ({
      day: `2026-03-${String(i + 1).padStart(2, '0')}`,
      source: 'rollup',
      dmsSent,
      dmsFailed: 0,
      postsPublished: 0,
    }));
  const axisLabels = (html: string) => [...html.matchAll(/data-tick="(\d+)"/g)].map((m) => Number(m[1]));

  test('a maximum of 1 labels the axis 0 and 1, not 0, 1, 1', () => {
    const html = renderToStaticMarkup(createElement(DailyChart, { days: days([0, 1, 0]) }));
    expect(axisLabels(html)).toEqual([0, 1]);
  });

  test('the tallest bar reaches the top tick exactly when the max is a tick', () => {
    const html = renderToStaticMarkup(createElement(DailyChart, { days: days([3, 10]) }));
    expect(axisLabels(html)).toEqual([0, 5, 10]);
    // The grid line of tick 10 and the top of the bar of 10 share one y.
    const gridTop = /data-tick="10"><line[^>]*y1="([\d.]+)"/.exec(html)?.[1];
    const heights = [...html.matchAll(/<rect x="[\d.]+" y="([\d.]+)"[^>]*class="c-sent"/g)].map((m) => m[1]);
    expect(gridTop).toBeDefined();
    expect(heights).toContain(gridTop);
  });
});
