import { afterAll } from 'vitest';
import { setLogSink } from '../../lib/log.ts';

/**
 * Every log line of every test goes through here: kept quiet unless LOG_TESTS=1, and checked at the end of each file
 * for anything that must never be logged (secrets and message bodies registered by the tests).
 */
const lines: string[] = [];
const forbidden = new Set<string>(['test-cron-secret-do-not-log']);

setLogSink((line) => {
  lines.push(line);
  if (process.env.LOG_TESTS) console.log(line);
});

(globalThis as unknown as { __forbidInLogs?: (s: string) => void }).__forbidInLogs = (s: string) => {
  if (s) forbidden.add(s);
};
(globalThis as unknown as { __logLines?: string[] }).__logLines = lines;

afterAll(() => {
  for (const line of lines) {
    for (const secret of forbidden) {
      if (line.includes(secret))
        throw new Error(`a log line contains a forbidden value (${secret.slice(0, 6)}…): ${line.slice(0, 200)}`);
    }
  }
});
