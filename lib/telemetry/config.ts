/**
 * Whether this process registers an OpenTelemetry SDK (instrumentation.ts asks once, at server start). Off by
 * default on a developer's machine, where no collector listens and an exporter would only log connection errors:
 *
 * - `OTEL_ENABLED=1|true` turns it on anywhere (spans go to OTEL_EXPORTER_OTLP_* or to http://localhost:4318);
 *   `OTEL_ENABLED=0|false` turns it off anywhere. It wins over the rules below.
 * - `OTEL_SDK_DISABLED=true` (the OpenTelemetry standard switch) turns it off.
 * - Otherwise it is on when an OTLP endpoint is configured (`OTEL_EXPORTER_OTLP_ENDPOINT` or
 *   `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) or on Vercel (`VERCEL` set, not `vercel dev`), where @vercel/otel hands
 *   spans to Vercel's tracing and to the project's trace drains.
 */
export interface TelemetryDecision {
  enabled: boolean;
  /** Why, in words, for the start-up log line. */
  reason: string;
  /** A variable whose value was not understood (ignored; the other rules decided). */
  invalid?: string;
}

type Env = Record<string, string | undefined>;

const ON = new Set(['1', 'true', 'yes', 'on']);
const OFF = new Set(['0', 'false', 'no', 'off']);

export function telemetryDecision(env: Env = process.env): TelemetryDecision {
  const explicit = env.OTEL_ENABLED?.trim().toLowerCase();
  let invalid: string | undefined;
  if (explicit) {
    if (ON.has(explicit)) return { enabled: true, reason: 'OTEL_ENABLED is set' };
    if (OFF.has(explicit)) return { enabled: false, reason: 'OTEL_ENABLED turns it off' };
    invalid = `OTEL_ENABLED=${JSON.stringify(env.OTEL_ENABLED?.slice(0, 20))} is not one of 1, true, 0, false`;
  }
  const withInvalid = (d: Omit<TelemetryDecision, 'invalid'>): TelemetryDecision => (invalid ? { ...d, invalid } : d);
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') {
    return withInvalid({ enabled: false, reason: 'OTEL_SDK_DISABLED=true' });
  }
  if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim()) {
    return withInvalid({ enabled: true, reason: 'an OTLP endpoint is configured' });
  }
  // `vercel dev` sets VERCEL too, with VERCEL_ENV=development: a developer's machine, as in lib/deployment.ts.
  if (env.VERCEL?.trim() && env.VERCEL_ENV !== 'development') {
    return withInvalid({ enabled: true, reason: 'running on Vercel' });
  }
  return withInvalid({
    enabled: false,
    reason: 'no OTLP endpoint, not on Vercel and OTEL_ENABLED unset (off by default locally)',
  });
}

/** The service name spans carry unless OTEL_SERVICE_NAME says otherwise (@vercel/otel reads that itself). */
export const SERVICE_NAME = 'pg-cron-jobs';

/**
 * Provider URLs whose path holds a recipient (the uncertain-DM lookup, `/chat_attendees/<member id>/chats`): the
 * fetch instrumentation records full URLs, so these calls get no fetch span (the provider-call span has the rest).
 */
export const FETCH_IGNORE_URLS: RegExp[] = [/\/api\/v1\/chat_attendees\//];
