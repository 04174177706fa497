import { trace } from '@opentelemetry/api';

/**
 * `{ traceId, spanId }` of the span in effect, so a log line links to its trace (lib/log.ts adds them to every line
 * written inside a recording span); `{}` when nothing records — no SDK registered, or the trace not sampled.
 * Its own file because lib/log.ts imports it and lib/telemetry/index.ts imports lib/log.ts.
 */
export function traceFields(): { traceId?: string; spanId?: string } {
  const span = trace.getActiveSpan();
  if (!span?.isRecording()) return {};
  const { traceId, spanId } = span.spanContext();
  return { traceId, spanId };
}
