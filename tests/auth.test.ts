import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { checkBearer, MIN_SECRET_LENGTH, safeEqual } from '../lib/cron/auth.ts';

describe('safeEqual', () => {
  test('true exactly when the strings are equal, whatever their lengths', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        expect(safeEqual(a, b)).toBe(a === b);
        expect(safeEqual(a, a)).toBe(true);
      }),
    );
  });
});

describe('checkBearer', () => {
  const secret = 's'.repeat(MIN_SECRET_LENGTH);
  test.each([
    [undefined, `Bearer ${secret}`, 500],
    ['', 'Bearer ', 500],
    ['   ', 'Bearer    ', 500],
    ['short', 'Bearer short', 500],
    [secret, null, 401],
    [secret, `Bearer ${secret}`, 200],
    [secret, `bearer ${secret}`, 401],
    [secret, 'Bearer undefined', 401],
  ])('secret %j, header %j → %i', (configured, header, expected) => {
    const result = checkBearer(header, configured);
    expect(result.ok ? 200 : result.status).toBe(expected);
  });
});
