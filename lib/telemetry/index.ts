import { type Attributes, context, createContextKey, type Span, SpanStatusCode, trace } from '@opentelemetry/api';
import { toErrorMessage } from '../log.ts';

export { traceFields } from './trace-fields.ts';

/**
 * Spans through @opentelemetry/api only: with no SDK registered (the default locally, see config.ts) every tracer is
 * the API's no-op one, and the helpers below take their fast path — a non-recording span is made and dropped, no
 * context is switched, nothing is ended or exported (bench: a per-item span costs well under a microsecond).
 *
 * What spans carry: ids, counts, outcomes, error codes, HTTP status codes. Never a message body, a recipient or a
 * secret: provider-call spans record an error's class and code, not its message (a provider's error text may echo
 * what was sent).
 */
export const tracer = trace.getTracer('pg-cron-jobs');

/** Attribute values that come from a provider (error codes) are bounded. */
const MAX_VALUE = 120;
const bounded = (s: string) => (s.length > MAX_VALUE ? `${s.slice(0, MAX_VALUE)}…` : s);

/** The provider-call span in effect, so the HTTP client can put its status code on it (noteHttpStatus). */
const PROVIDER_CALL = createContextKey('pg-cron-jobs provider call');

export interface SpanOptions {
  /** What a failure records: 'message' (default) or only its class and code ('code'), for provider calls. */
  errorDetail?: 'message' | 'code';
}

/**
 * `fn` inside a span named `name`: ended when `fn` settles; a throw is recorded as an exception event and an ERROR
 * status, then rethrown. `fn` may add attributes to the span it is given.
 */
export function withSpan<T>(
  name: string,
  attributes: Attributes,
  fn: (span: Span) => Promise<T>,
  options?: SpanOptions,
): Promise<T> {
  const span = tracer.startSpan(name, { attributes });
  // No SDK, or not sampled: nothing to record, so no context switch and no bookkeeping.
  if (!span.isRecording()) return fn(span);
  return context.with(trace.setSpan(context.active(), span), () => recorded(span, fn, options));
}

async function recorded<T>(span: Span, fn: (span: Span) => Promise<T>, options?: SpanOptions): Promise<T> {
  try {
    return await fn(span);
  } catch (e) {
    recordFailure(span, e, options?.errorDetail ?? 'message');
    throw e;
  } finally {
    span.end();
  }
}

function recordFailure(span: Span, e: unknown, detail: 'message' | 'code'): void {
  const name = e instanceof Error ? e.name : typeof e;
  const code = errorCode(e);
  // The code as an attribute: the SDK would make an exception's `code` its exception.type, hiding the class.
  if (code) span.setAttribute('cron.error.code', code);
  if (detail === 'code') {
    span.recordException({ name });
    span.setStatus({ code: SpanStatusCode.ERROR, message: code ?? name });
    return;
  }
  const message = toErrorMessage(e);
  span.recordException({ name, message, stack: e instanceof Error ? e.stack : undefined });
  span.setStatus({ code: SpanStatusCode.ERROR, message });
}

function errorCode(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code ? bounded(code) : undefined;
}

/** A queue's claim as a `cron.claim` span: how many items it asked for and how many it got. */
export function withClaimSpan<T extends unknown[]>(job: string, max: number, claim: () => Promise<T>): Promise<T> {
  return withSpan('cron.claim', { 'cron.job': job, 'cron.claim.max': max }, async (span) => {
    const items = await claim();
    span.setAttribute('cron.claim.count', items.length);
    return items;
  });
}

/** A queue's settle as a `cron.settle` span: the outcomes it recorded and how they were counted. */
export function withSettleSpan<
  C extends { succeeded: number; failed: number; retried: number; uncertain: number; released: number },
>(job: string, items: number, settle: () => Promise<C>): Promise<C> {
  return withSpan('cron.settle', { 'cron.job': job, 'cron.settle.items': items }, async (span) => {
    const c = await settle();
    span.setAttributes({
      'cron.succeeded': c.succeeded,
      'cron.failed': c.failed,
      'cron.retried': c.retried,
      'cron.uncertain': c.uncertain,
      'cron.released': c.released,
    });
    return c;
  });
}

/**
 * One provider call for one item, as a `cron.provider_call` span: the item's id, how it came out (`outcomeOf` maps
 * a throw to the drain's outcome: failed, retry, uncertain, key), its error code, the HTTP status the client saw
 * (noteHttpStatus) and its duration. A call still running when `signal` aborts (a provider that ignores it) is ended
 * there as uncertain/timeout, as the drain counts it.
 */
export function withProviderCallSpan<T>(
  attributes: Attributes,
  fn: () => Promise<T>,
  outcomeOf: (e: unknown) => string,
  signal?: AbortSignal,
): Promise<T> {
  const span = tracer.startSpan('cron.provider_call', { attributes });
  if (!span.isRecording()) return fn();
  const started = performance.now();
  let ended = false;
  const end = (outcome: string, error?: unknown) => {
    if (ended) return;
    ended = true;
    signal?.removeEventListener('abort', onAbort);
    span.setAttribute('cron.outcome', outcome);
    span.setAttribute('cron.duration_ms', Math.round(performance.now() - started));
    if (error !== undefined) recordFailure(span, error, 'code');
    span.end();
  };
  const onAbort = () => end('uncertain', { name: 'AbortError', code: 'timeout' });
  signal?.addEventListener('abort', onAbort, { once: true });
  const ctx = trace.setSpan(context.active(), span).setValue(PROVIDER_CALL, span);
  return context.with(ctx, async () => {
    try {
      const result = await fn();
      end('success');
      return result;
    } catch (e) {
      end(outcomeOf(e), e);
      throw e;
    }
  });
}

/** The HTTP client's hook: the status code of the response, on the provider-call span in effect (if any). */
export function noteHttpStatus(status: number | null): void {
  if (status === null) return;
  const span = context.active().getValue(PROVIDER_CALL) as Span | undefined;
  span?.setAttribute('http.response.status_code', status);
}

/** The run's figures on the run span (the same fields as its JSON summary); an `error` run gets an ERROR status. */
export function recordRunSummary(
  span: Span,
  s: {
    runId: string | null;
    status: string;
    claimed: number;
    succeeded: number;
    failed: number;
    retried: number;
    uncertain: number;
    remaining: number;
    hasMore: boolean;
    reason?: string;
    error?: string;
  },
): void {
  if (!span.isRecording()) return;
  span.setAttributes({
    ...(s.runId ? { 'cron.run_id': s.runId } : {}),
    'cron.status': s.status,
    'cron.claimed': s.claimed,
    'cron.succeeded': s.succeeded,
    'cron.failed': s.failed,
    'cron.retried': s.retried,
    'cron.uncertain': s.uncertain,
    'cron.remaining': s.remaining,
    'cron.has_more': s.hasMore,
    ...(s.reason ? { 'cron.reason': bounded(s.reason) } : {}),
  });
  if (s.status === 'error') span.setStatus({ code: SpanStatusCode.ERROR, message: s.error ?? 'error' });
}
