import { traceFields } from './telemetry/trace-fields.ts';

/**
 * One JSON object per line, the shape Vercel's log view and drains read. Values under keys that can hold a secret or
 * a message body are replaced, so a careless caller cannot leak them.
 */
type Level = 'debug' | 'info' | 'warn' | 'error';

const REDACT = /secret|password|passwd|token|api[-_]?key|authorization|cookie|^body$|^text$|^content$/i;

export type LogSink = (line: string, level: Level) => void;

let sink: LogSink = (line, level) => {
  if (level === 'error' || level === 'warn') console.error(line);
  else console.log(line);
};

/** Tests capture every line through this. */
export function setLogSink(next: LogSink): LogSink {
  const prev = sink;
  sink = next;
  return prev;
}

function redact(value: unknown, depth = 0): unknown {
  if (depth > 4 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return { name: value.name, message: value.message };
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = REDACT.test(k) ? '[redacted]' : redact(v, depth + 1);
  return out;
}

export function log(level: Level, msg: string, fields: Record<string, unknown> = {}): void {
  if (level === 'debug' && !process.env.LOG_DEBUG) return;
  // Inside a recording span (lib/telemetry), the line names its trace and span: a Vercel log line links to its trace.
  const line = JSON.stringify({
    ts: new Date().toISOString(),
    level,
    msg,
    ...(redact(fields) as object),
    ...traceFields(),
  });
  sink(line, level);
}

/** Never an empty string: the failure text always lands somewhere readable. */
export function toErrorMessage(e: unknown): string {
  if (e instanceof Error) return e.message || e.name || 'Error';
  if (typeof e === 'string') return e || 'unknown error';
  try {
    const s = JSON.stringify(e);
    return s && s !== '{}' ? s : String(e) || 'unknown error';
  } catch {
    return String(e) || 'unknown error';
  }
}
