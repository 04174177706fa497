import { type Attributes, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { HttpResponse, http } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { GET } from '../app/api/cron/dm-queue/route.ts';
import { register } from '../instrumentation.ts';
import { PermanentError, RetryableError } from '../lib/cron/errors.ts';
import type { RunSummary } from '../lib/cron/run.ts';
import { setDb } from '../lib/db/index.ts';
import type { Db } from '../lib/db/types.ts';
import { setProvider } from '../lib/providers/index.ts';
import { createUnipileProvider } from '../lib/providers/unipile.ts';
import { telemetryDecision } from '../lib/telemetry/config.ts';
import { withProviderCallSpan, withSpan } from '../lib/telemetry/index.ts';
import { forEachEngine, sql } from './helpers/db.ts';
import { insertAccount, insertDms } from './helpers/fixtures.ts';
import { capturedLogs, forbidInLogs } from './helpers/logs.ts';

/**
 * OpenTelemetry (docs/observability.md): one DM run through the cron route handler, on a real database, against the
 * real Unipile client (msw answers its HTTP), first with no SDK registered, then with an SDK exporting to memory.
 * The no-SDK runs come first in this file: the API's proxy tracer keeps the SDK's tracer once it has one.
 */
const SECRET = 'test-cron-secret-do-not-log';
const BODY = 'telemetry: a confidential DM body 5d2e';
const API_KEY = 'unipile-telemetry-key-never-exported';
const RECIPIENT = 'ACoAAB-telemetry-recipient';
const INVALID_RECIPIENT = 'invalid-ACoAAB-telemetry-recipient';
const DSN = 'api7.unipile.test:13111';
forbidInLogs(BODY);
forbidInLogs(API_KEY);

const unipile = setupServer(
  http.post(`https://${DSN}/api/v1/chats`, async ({ request }) => {
    const form = await request.formData();
    if (String(form.get('attendees_ids')).startsWith('invalid')) {
      return HttpResponse.json({ type: 'errors/invalid_recipient', title: 'Invalid recipient' }, { status: 422 });
    }
    return HttpResponse.json(
      { object: 'ChatStarted', chat_id: `chat-${crypto.randomUUID()}`, message_id: `msg-${crypto.randomUUID()}` },
      { status: 201 },
    );
  }),
);

beforeAll(() => {
  unipile.listen({ onUnhandledFrame: 'error' });
  process.env.CRON_SECRET = SECRET;
  setProvider(createUnipileProvider({ dsn: DSN, apiKey: API_KEY, timeoutMs: 5_000 }));
});
afterAll(() => {
  unipile.close();
  delete process.env.CRON_SECRET;
  setProvider(undefined);
  setDb(undefined);
});

/** Three DMs due now (one to a recipient Unipile refuses with 422), then one run through GET /api/cron/dm-queue. */
async function oneDmRun(db: Db): Promise<{ summary: RunSummary; ids: string[]; invalidId: string }> {
  await sql(db, 'truncate accounts, dm_queue, job_runs, cron_state cascade');
  setDb(db);
  const account = await insertAccount(db, { dm_daily_limit: 100 });
  const ids = await insertDms(db, account, 2, { body: BODY, recipient_id: RECIPIENT });
  const [invalidId] = await insertDms(db, account, 1, { body: BODY, recipient_id: INVALID_RECIPIENT });
  const res = await GET(
    new Request('http://localhost/api/cron/dm-queue', { headers: { authorization: `Bearer ${SECRET}` } }),
  );
  expect(res.status).toBe(200);
  const summary = (await res.json()) as RunSummary;
  expect(summary).toMatchObject({ status: 'ok', claimed: 3, succeeded: 2, failed: 1 });
  return { summary, ids: [...ids, invalidId!], invalidId: invalidId! };
}

const runLogLine = (runId: string | null) => {
  const line = capturedLogs().find((l) => l.msg === 'cron run' && l.runId === runId);
  expect(line).toBeDefined();
  return line!;
};

describe('telemetryDecision (when instrumentation.ts registers the SDK)', () => {
  test.each([
    [{}, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }, true],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' }, true],
    [{ VERCEL: '1' }, true],
    [{ VERCEL: '1', VERCEL_ENV: 'development' }, false],
    [{ OTEL_ENABLED: '1' }, true],
    [{ OTEL_ENABLED: 'true' }, true],
    [{ OTEL_ENABLED: '0', VERCEL: '1' }, false],
    [{ OTEL_ENABLED: 'false', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }, false],
    [{ OTEL_SDK_DISABLED: 'true', VERCEL: '1' }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: '  ' }, false],
  ])('%j → enabled %s', (env, enabled) => {
    expect(telemetryDecision(env).enabled).toBe(enabled);
  });

  test('an OTEL_ENABLED it cannot read is reported and ignored (the other rules decide)', () => {
    expect(telemetryDecision({ OTEL_ENABLED: 'maybe', VERCEL: '1' })).toMatchObject({
      enabled: true,
      invalid: expect.stringContaining('OTEL_ENABLED'),
    });
    expect(telemetryDecision({ OTEL_ENABLED: 'maybe' })).toMatchObject({ enabled: false });
  });
});

forEachEngine('no OpenTelemetry SDK registered', (ctx) => {
  test('instrumentation.ts registers nothing locally, the run works, and its log line has no trace id', async () => {
    const saved = process.env.NEXT_RUNTIME;
    process.env.NEXT_RUNTIME = 'nodejs';
    try {
      await register();
    } finally {
      if (saved === undefined) delete process.env.NEXT_RUNTIME;
      else process.env.NEXT_RUNTIME = saved;
    }
    const probe = trace.getTracer('probe').startSpan('probe');
    expect(probe.isRecording()).toBe(false);
    probe.end();

    const { summary } = await oneDmRun(ctx.db);
    const line = runLogLine(summary.runId);
    expect(line).not.toHaveProperty('traceId');
    expect(line).not.toHaveProperty('spanId');
  });
});

let exporter: InMemorySpanExporter | undefined;
/** One SDK for the rest of the file, as an app has: registered with the first test that needs it. */
function sdk(): InMemorySpanExporter {
  if (!exporter) {
    exporter = new InMemorySpanExporter();
    new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }).register();
  }
  exporter.reset();
  return exporter;
}
afterAll(() => {
  if (exporter) trace.disable();
});

const isChildOf = (child: ReadableSpan, parent: ReadableSpan) =>
  child.parentSpanContext?.spanId === parent.spanContext().spanId &&
  child.spanContext().traceId === parent.spanContext().traceId;

/** Every string a span carries: attribute values, event attributes, the status message. */
function spanStrings(span: ReadableSpan): string[] {
  const values = (a: Attributes | undefined) => Object.values(a ?? {}).map((v) => String(v));
  return [
    span.name,
    ...values(span.attributes),
    ...span.events.flatMap((e) => [e.name, ...values(e.attributes)]),
    span.status.message ?? '',
  ];
}

forEachEngine('OpenTelemetry SDK registered (in-memory exporter)', (ctx) => {
  test('one DM run: a run span with its figures, claim/provider-call/settle children, the trace id in its log line', async () => {
    const spans = sdk();
    const { summary, ids, invalidId } = await oneDmRun(ctx.db);
    const finished = spans.getFinishedSpans();

    const runs = finished.filter((s) => s.name === 'cron.run');
    expect(runs).toHaveLength(1);
    const run = runs[0]!;
    expect(run.parentSpanContext).toBeUndefined();
    expect(run.attributes).toMatchObject({
      'cron.job': 'dm-queue',
      'cron.run_id': summary.runId,
      'cron.trigger': summary.trigger,
      'cron.status': 'ok',
      'cron.claimed': 3,
      'cron.succeeded': 2,
      'cron.failed': 1,
      'cron.retried': 0,
      'cron.uncertain': 0,
      'cron.remaining': summary.remaining,
      'cron.has_more': false,
    });

    const claims = finished.filter((s) => s.name === 'cron.claim');
    expect(claims.length).toBeGreaterThanOrEqual(1);
    for (const c of claims) expect(isChildOf(c, run)).toBe(true);
    expect(claims.reduce((n, c) => n + Number(c.attributes['cron.claim.count']), 0)).toBe(3);

    const calls = finished.filter((s) => s.name === 'cron.provider_call');
    expect(calls).toHaveLength(3);
    expect(calls.map((c) => c.attributes['cron.item.id']).sort()).toEqual([...ids].sort());
    for (const c of calls) {
      expect(isChildOf(c, run)).toBe(true);
      expect(c.attributes['cron.job']).toBe('dm-queue');
      expect(c.attributes['cron.duration_ms']).toEqual(expect.any(Number));
      if (c.attributes['cron.item.id'] === invalidId) {
        expect(c.attributes).toMatchObject({
          'cron.outcome': 'failed',
          'cron.error.code': 'errors/invalid_recipient',
          'http.response.status_code': 422,
        });
        expect(c.status.code).toBe(2); // SpanStatusCode.ERROR
      } else {
        expect(c.attributes).toMatchObject({ 'cron.outcome': 'success', 'http.response.status_code': 201 });
      }
    }

    const settles = finished.filter((s) => s.name === 'cron.settle');
    expect(settles.length).toBeGreaterThanOrEqual(1);
    for (const s of settles) expect(isChildOf(s, run)).toBe(true);
    const settled = (k: string) => settles.reduce((n, s) => n + Number(s.attributes[k]), 0);
    expect([settled('cron.succeeded'), settled('cron.failed'), settled('cron.settle.items')]).toEqual([2, 1, 3]);

    // Nothing a span carries holds the DM text, the recipient, the cron secret or the provider key.
    for (const span of finished) {
      for (const s of spanStrings(span)) {
        for (const forbidden of [BODY, RECIPIENT, SECRET, API_KEY]) expect(s).not.toContain(forbidden);
      }
    }

    const line = runLogLine(summary.runId);
    expect(line.traceId).toBe(run.spanContext().traceId);
    expect(line.spanId).toBe(run.spanContext().spanId);
    expect(line.traceId).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe('lib/telemetry helpers (SDK registered)', () => {
  test('withSpan records a throw as an exception event and an ERROR status, then rethrows', async () => {
    const spans = sdk();
    await expect(
      withSpan('t.fail', { 'cron.job': 'x' }, async () => {
        throw new PermanentError('boom', { code: 'errors/x' });
      }),
    ).rejects.toThrow('boom');
    const [span] = spans.getFinishedSpans();
    expect(span).toMatchObject({ name: 't.fail', status: { code: 2, message: 'boom' } });
    expect(span!.events[0]?.attributes).toMatchObject({
      'exception.type': 'PermanentError',
      'exception.message': 'boom',
    });
  });

  test('a provider call that ignores its aborted signal is ended there as uncertain/timeout, without its message', async () => {
    const spans = sdk();
    const controller = new AbortController();
    const hanging = withProviderCallSpan(
      { 'cron.job': 'dm-queue', 'cron.item.id': 'dm-1' },
      () => new Promise<never>(() => {}),
      () => 'failed',
      controller.signal,
    );
    hanging.catch(() => {});
    controller.abort();
    const [span] = spans.getFinishedSpans();
    expect(span?.attributes).toMatchObject({
      'cron.item.id': 'dm-1',
      'cron.outcome': 'uncertain',
      'cron.error.code': 'timeout',
    });
    expect(span?.status).toMatchObject({ code: 2, message: 'timeout' });
  });

  test('a provider error is recorded by class and code only (its text may echo what was sent)', async () => {
    const spans = sdk();
    await expect(
      withProviderCallSpan(
        { 'cron.job': 'dm-queue', 'cron.item.id': 'dm-2' },
        () => Promise.reject(new RetryableError(`Unipile said: ${BODY}`, { code: 'errors/provider_error' })),
        () => 'retry',
      ),
    ).rejects.toThrow(BODY);
    const [span] = spans.getFinishedSpans();
    expect(span?.attributes).toMatchObject({ 'cron.outcome': 'retry', 'cron.error.code': 'errors/provider_error' });
    for (const s of spanStrings(span!)) expect(s).not.toContain(BODY);
  });
});
