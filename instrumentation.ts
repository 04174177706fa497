/**
 * Next.js calls `register` once per server instance, before the first request (instrumentation.ts in the project
 * root; see docs/observability.md). It registers OpenTelemetry through @vercel/otel when lib/telemetry/config.ts
 * says so (on Vercel, with an OTLP endpoint, or OTEL_ENABLED=1); otherwise nothing is loaded and every span in lib/
 * stays a no-op.
 */
export async function register(): Promise<void> {
  // The cron routes run on Node; the SDK and its exporters are loaded only there, and only when enabled.
  if (process.env.NEXT_RUNTIME !== 'nodejs') return;
  const { FETCH_IGNORE_URLS, SERVICE_NAME, telemetryDecision } = await import('./lib/telemetry/config.ts');
  const { log } = await import('./lib/log.ts');
  const decision = telemetryDecision();
  if (decision.invalid) log('warn', 'telemetry setting ignored', { problem: decision.invalid });
  if (!decision.enabled) return;
  // One fetch span per outbound call: @vercel/otel's (which honours FETCH_IGNORE_URLS), not also Next's own, whose
  // name and http.url carry every URL in full. NEXT_OTEL_FETCH_DISABLED=0 keeps Next's as well.
  process.env.NEXT_OTEL_FETCH_DISABLED ??= '1';
  const { registerOTel } = await import('@vercel/otel');
  registerOTel({
    serviceName: SERVICE_NAME,
    instrumentationConfig: { fetch: { ignoreUrls: FETCH_IGNORE_URLS } },
  });
  log('info', 'telemetry registered', { reason: decision.reason });
}
