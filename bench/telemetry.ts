/**
 * What a per-item span costs on the hot path: `node bench/telemetry.ts`. The same awaited no-op "provider call"
 * bare, inside withProviderCallSpan and inside withSpan, first with no OpenTelemetry SDK registered (the API's no-op
 * tracer, the default locally) and then with a recording SDK whose processor drops spans (the cost of recording,
 * without an exporter's). Prints µs per item over the bare call, best of several rounds (CPU time).
 */
import { trace } from '@opentelemetry/api';
import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { withProviderCallSpan, withSpan } from '../lib/telemetry/index.ts';

const N = Number(process.argv[2] ?? 200_000);
const ROUNDS = 7;
const call = async () => 1;
const outcomeOf = () => 'retry';
const signal = new AbortController().signal;

async function cpuUs(body: (i: number) => Promise<unknown>): Promise<number> {
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.cpuUsage();
    for (let i = 0; i < N; i++) await body(i);
    const used = process.cpuUsage(start);
    best = Math.min(best, used.user + used.system);
  }
  return best / N;
}

async function measure(label: string): Promise<void> {
  const bare = await cpuUs(() => call());
  const provider = await cpuUs((i) =>
    withProviderCallSpan({ 'cron.job': 'dm-queue', 'cron.item.id': String(i) }, call, outcomeOf, signal),
  );
  const generic = await cpuUs(() => withSpan('cron.claim', { 'cron.job': 'dm-queue' }, call));
  console.log(
    `${label}: bare call ${bare.toFixed(3)} µs; provider-call span +${(provider - bare).toFixed(3)} µs/item; ` +
      `withSpan +${(generic - bare).toFixed(3)} µs`,
  );
}

await measure('no SDK registered (no-op tracer)');
const drop: SpanProcessor = {
  onStart: () => {},
  onEnd: (_span: ReadableSpan) => {},
  forceFlush: async () => {},
  shutdown: async () => {},
};
new NodeTracerProvider({ spanProcessors: [drop] }).register();
await withSpan('bench run', {}, () => measure('recording SDK, spans dropped at the processor'));
trace.disable();
