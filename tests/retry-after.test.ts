import { describe, expect, test } from 'vitest';
import { parseRetryAfter, RETRY_AFTER_MAX_MS } from '../lib/http/retry-after.ts';

const NOW = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');

describe('parseRetryAfter', () => {
  test('the bound is 24 h', () => {
    expect(RETRY_AFTER_MAX_MS).toBe(86_400_000);
  });

  test.each([
    // delay-seconds
    ['7', 7_000],
    [' 0 ', 0],
    ['1.5', 1_500],
    ['86400', 86_400_000],
    ['86401', RETRY_AFTER_MAX_MS],
    ['99999999999999999999', RETRY_AFTER_MAX_MS],
    ['9'.repeat(400), RETRY_AFTER_MAX_MS], // Number() gives Infinity; still the cap, never Infinity
    // HTTP-date, all three forms (RFC 9110 §5.6.7)
    ['Wed, 21 Oct 2015 07:29:00 GMT', 60_000],
    ['Wednesday, 21-Oct-15 07:29:00 GMT', 60_000],
    ['Wed Oct 21 07:29:00 2015', 60_000],
    ['Wed, 21 Oct 2015 07:00:00 GMT', 0], // in the past: now
    ['Fri, 31 Dec 9999 23:59:59 GMT', RETRY_AFTER_MAX_MS],
    // garbage: ignored, the queue's own backoff applies
    [null, undefined],
    [undefined, undefined],
    ['', undefined],
    ['   ', undefined],
    ['-5', undefined],
    ['+5', undefined],
    ['1e5', undefined],
    ['Infinity', undefined],
    ['NaN', undefined],
    ['soon', undefined],
    ['soon 2', undefined],
    ['2026-01-01', undefined],
    ['Wed, 32 Oct 2015 07:29:00 GMT', undefined],
    ['5, 6', undefined],
  ] as const)('%j → %j', (value, ms) => {
    expect(parseRetryAfter(value, NOW)).toBe(ms);
  });
});
