import { describe, expect, test } from 'vitest';
import { Budget } from '../lib/cron/budget.ts';
import { drain, type Outcome } from '../lib/cron/drain.ts';

/** A clock the fake provider moves: every call "takes" latencyMs, deterministically, without sleeping. */
function setup(latencyMs: number, items: number) {
  let now = 0;
  const budget = new Budget(10_000, () => now);
  let next = 0;
  const started: number[] = [];
  const settled: Outcome<string>[] = [];
  const spec = {
    budget,
    batchSize: 4,
    concurrency: 1,
    limit: 100_000,
    itemTimeoutMs: 5_000,
    minItemTimeoutMs: 5_000,
    marginMs: 500,
    unknownError: 'uncertain' as const,
    claim: async (max: number) => {
      const batch = [];
      for (let i = 0; i < max && next < items; i++) batch.push({ id: String(next++) });
      return batch;
    },
    process: async () => {
      started.push(now);
      now += latencyMs;
      return 'ok';
    },
    settle: async (outcomes: Outcome<string>[]) => {
      settled.push(...outcomes);
      const released = outcomes.filter((o) => o.outcome === 'release').length;
      return { succeeded: outcomes.length - released, failed: 0, retried: 0, uncertain: 0, released };
    },
  };
  return { spec, started, settled, elapsed: () => now };
}

describe('drain start floor', () => {
  test('a fast provider keeps the end of the budget busy: the floor drops to max(1 s, 4 × p99)', async () => {
    const { spec, started, settled } = setup(100, 1_000);
    const result = await drain(spec);
    // Configured floor 5 s + 0.5 s margin would stop starting at 4.5 s; adapted (1 s) at 8.5 s.
    expect(Math.max(...started)).toBeGreaterThan(8_000);
    expect(Math.max(...started)).toBeLessThanOrEqual(8_500);
    expect(result.stoppedEarly).toBe(true);
    expect(settled.filter((o) => o.outcome === 'success')).toHaveLength(started.length);
  });

  test('a slow provider keeps the configured floor', async () => {
    const { spec, started } = setup(2_000, 1_000);
    await drain(spec);
    // 4 × 2 s = 8 s > the configured 5 s: nothing starts with less than 5.5 s left.
    expect(Math.max(...started)).toBeLessThanOrEqual(4_500);
  });
});
