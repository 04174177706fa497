import { describe, expect, test } from 'vitest';
import { Budget } from '../lib/cron/budget.ts';
import { drain, type Outcome } from '../lib/cron/drain.ts';
import { drainSettings } from '../lib/cron/settings.ts';

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

/** A drain over in-memory items that records what it claimed and settled, and what the held count reached. */
function recording(opts: {
  items: number;
  batchSize: number;
  concurrency: number;
  prefetch?: boolean;
  process: (item: { id: string }, signal: AbortSignal) => Promise<string>;
  budget?: Budget;
  itemTimeoutMs?: number;
  signal?: AbortSignal;
}) {
  let next = 0;
  let held = 0;
  let maxHeld = 0;
  let inFlight = 0;
  let claimsWhileBusy = 0;
  const settled: Outcome<string>[] = [];
  const spec = {
    budget: opts.budget ?? new Budget(60_000),
    batchSize: opts.batchSize,
    concurrency: opts.concurrency,
    prefetch: opts.prefetch,
    limit: 100_000,
    itemTimeoutMs: opts.itemTimeoutMs ?? 5_000,
    minItemTimeoutMs: 100,
    marginMs: 100,
    unknownError: 'uncertain' as const,
    signal: opts.signal,
    claim: async (max: number) => {
      if (inFlight > 0) claimsWhileBusy++;
      const batch = [];
      for (let i = 0; i < max && next < opts.items; i++) batch.push({ id: String(next++) });
      held += batch.length;
      maxHeld = Math.max(maxHeld, held);
      return batch;
    },
    process: async (item: { id: string }, signal: AbortSignal) => {
      inFlight++;
      try {
        return await opts.process(item, signal);
      } finally {
        inFlight--;
      }
    },
    settle: async (outcomes: Outcome<string>[]) => {
      held -= outcomes.length;
      settled.push(...outcomes);
      const count = (o: string) => outcomes.filter((x) => x.outcome === o).length;
      return {
        succeeded: count('success'),
        failed: count('failed'),
        retried: count('retry'),
        uncertain: count('uncertain'),
        released: count('release'),
      };
    },
  };
  return {
    spec,
    settled,
    byId: (id: string) => settled.find((o) => o.id === id),
    stats: () => ({ maxHeld, claimsWhileBusy }),
  };
}

const sleepMs = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A handler that never answers and ignores its signal (the worst a provider can do); records when it was aborted. */
const hang = (aborted: Map<string, number>, id: string, signal: AbortSignal) => {
  signal.addEventListener('abort', () => aborted.set(id, performance.now()), { once: true });
  return new Promise<string>(() => {});
};

describe('drain deadlines (one timer per group of items started together)', () => {
  test('a hanging item that ignores its signal still times out as uncertain; its signal is aborted; the others succeed', async () => {
    const aborted = new Map<string, number>();
    const r = recording({
      items: 3,
      batchSize: 3,
      concurrency: 3,
      itemTimeoutMs: 200,
      process: (item, signal) => (item.id === '0' ? hang(aborted, item.id, signal) : Promise.resolve('ok')),
    });
    const result = await drain(r.spec);
    expect(r.byId('0')).toEqual({ id: '0', outcome: 'uncertain', error: 'no answer within 200 ms', code: 'timeout' });
    expect(aborted.has('0')).toBe(true);
    expect(r.byId('1')?.outcome).toBe('success');
    expect(r.byId('2')?.outcome).toBe('success');
    expect(result).toMatchObject({ claimed: 3, succeeded: 2, uncertain: 1 });
  });

  test('an item started later gets its own full timeout, not what is left of an earlier item’s deadline', async () => {
    const aborted = new Map<string, number>();
    const r = recording({
      items: 3,
      batchSize: 3,
      concurrency: 2,
      itemTimeoutMs: 400,
      // 0 hangs from t≈0; 1 answers after 150 ms, so 2 starts at t≈150 and hangs.
      process: (item, signal) => (item.id === '1' ? sleepMs(150).then(() => 'ok') : hang(aborted, item.id, signal)),
    });
    await drain(r.spec);
    expect(r.byId('0')).toMatchObject({ outcome: 'uncertain', error: 'no answer within 400 ms', code: 'timeout' });
    expect(r.byId('2')).toMatchObject({ outcome: 'uncertain', error: 'no answer within 400 ms', code: 'timeout' });
    // 2 was aborted on its own deadline, after 0's (not together with it).
    expect(aborted.get('2')!).toBeGreaterThan(aborted.get('0')! + 100);
  });

  test('an item started near the end of the budget gets the time left (minus the margin) as its timeout', async () => {
    let now = 0;
    const budget = new Budget(10_000, () => now);
    const aborted = new Map<string, number>();
    const r = recording({
      items: 3,
      batchSize: 3,
      concurrency: 2,
      budget,
      itemTimeoutMs: 1_000,
      process: (item, signal) => {
        if (item.id !== '1') return hang(aborted, item.id, signal);
        now = 9_300; // 1 "takes" 9.3 s: 2 starts with 700 ms left, 600 after the 100 ms margin
        return Promise.resolve('ok');
      },
    });
    await drain(r.spec);
    expect(r.byId('0')).toMatchObject({ outcome: 'uncertain', error: 'no answer within 1000 ms' });
    expect(r.byId('2')).toMatchObject({ outcome: 'uncertain', error: 'no answer within 600 ms' });
    expect(aborted.get('2')!).toBeLessThan(aborted.get('0')!);
  });

  test('the run’s signal aborts the items in flight (uncertain) and nothing else starts (released)', async () => {
    const run = new AbortController();
    const aborted = new Map<string, number>();
    const r = recording({
      items: 6,
      batchSize: 6,
      concurrency: 2,
      signal: run.signal,
      process: (item, signal) => hang(aborted, item.id, signal),
    });
    setTimeout(() => run.abort(), 50);
    const result = await drain(r.spec);
    expect([...aborted.keys()].sort()).toEqual(['0', '1']);
    expect(r.settled.filter((o) => o.outcome === 'uncertain').map((o) => o.id)).toEqual(['0', '1']);
    expect(r.settled.filter((o) => o.outcome === 'release')).toHaveLength(4);
    expect(result.stoppedEarly).toBe(true);
  });
});

describe('drain pipelining and the bound on claimed-but-unsettled items', () => {
  const quick = () => sleepMs(5).then(() => 'ok');

  test('default, batch = concurrency: never more than one batch held, and no claim while items are in flight', async () => {
    const r = recording({ items: 40, batchSize: 4, concurrency: 4, process: quick });
    const result = await drain(r.spec);
    expect(result).toMatchObject({ claimed: 40, succeeded: 40, batches: 10 });
    expect(r.stats()).toEqual({ maxHeld: 4, claimsWhileBusy: 0 });
  });

  test('default, batch > concurrency: the next claim is made while the last items are in flight, within one batch', async () => {
    const r = recording({ items: 60, batchSize: 6, concurrency: 2, process: quick });
    const result = await drain(r.spec);
    expect(result).toMatchObject({ claimed: 60, succeeded: 60 });
    expect(r.stats().maxHeld).toBeLessThanOrEqual(6);
    expect(r.stats().claimsWhileBusy).toBeGreaterThan(0);
  });

  test('prefetch (opt-in): the next batch is claimed while this one is in flight; at most 2 × batchSize held', async () => {
    const r = recording({ items: 40, batchSize: 4, concurrency: 4, prefetch: true, process: quick });
    const result = await drain(r.spec);
    expect(result).toMatchObject({ claimed: 40, succeeded: 40 });
    expect(r.stats().maxHeld).toBe(8);
    expect(r.stats().claimsWhileBusy).toBeGreaterThan(0);
    // Every item settled exactly once.
    expect(new Set(r.settled.map((o) => o.id)).size).toBe(40);
    expect(r.settled).toHaveLength(40);
  });
});

describe('drain settings', () => {
  test('<PREFIX>_PREFETCH is off unless set to 1/true/on/yes; the batch defaults to the concurrency', () => {
    expect(drainSettings('DM', {})).toEqual({ batchSize: 8, concurrency: 8, minItemTimeoutMs: 3000, prefetch: false });
    for (const on of ['1', 'true', 'ON', ' yes ']) expect(drainSettings('DM', { DM_PREFETCH: on }).prefetch).toBe(true);
    for (const off of ['', '0', 'false', 'off', '2', 'prefetch'])
      expect(drainSettings('DM', { DM_PREFETCH: off }).prefetch).toBe(false);
    expect(drainSettings('POST', { DM_PREFETCH: '1', POST_CONCURRENCY: '4' })).toMatchObject({
      batchSize: 4,
      prefetch: false,
    });
  });
});
