import { describe, expect, test } from 'vitest';
import { drainSettings } from '../lib/cron/settings.ts';
import { poolMax } from '../lib/db/postgres.ts';
import { envValue } from '../lib/env.ts';
import { graceMs } from '../lib/health.ts';
import { webhookSettings } from '../lib/webhooks/settings.ts';

/**
 * .env.example lists every variable with an empty value; a copied file that leaves one empty must mean "the default",
 * not 0 (a pool of 0 connections hangs every query; a health grace of 0 reports every job overdue at each fire; an
 * auto-disable threshold of 0 turns auto-disable off).
 */
describe('an empty or blank environment value is the default', () => {
  const env = (v: Record<string, string>) => v as unknown as NodeJS.ProcessEnv;

  test('envValue: blank → undefined, anything else trimmed', () => {
    expect(envValue(env({ X: '' }), 'X')).toBeUndefined();
    expect(envValue(env({ X: '   ' }), 'X')).toBeUndefined();
    expect(envValue(env({}), 'X')).toBeUndefined();
    expect(envValue(env({ X: ' 7 ' }), 'X')).toBe('7');
  });

  test.each([[''], ['  ']])('DATABASE_POOL_MAX=%j → 5 connections', (v) => {
    expect(poolMax(env({ DATABASE_POOL_MAX: v }))).toBe(5);
  });
  test('DATABASE_POOL_MAX: a number is used; 0, negatives and junk fall back to 5', () => {
    expect(poolMax(env({ DATABASE_POOL_MAX: '12' }))).toBe(12);
    expect(poolMax(env({ DATABASE_POOL_MAX: '0' }))).toBe(5);
    expect(poolMax(env({ DATABASE_POOL_MAX: '-3' }))).toBe(5);
    expect(poolMax(env({ DATABASE_POOL_MAX: 'many' }))).toBe(5);
  });

  test('HEALTH_GRACE_MINUTES= → 10 minutes', () => {
    expect(graceMs(env({ HEALTH_GRACE_MINUTES: '' }))).toBe(600_000);
    expect(graceMs(env({ HEALTH_GRACE_MINUTES: '3' }))).toBe(180_000);
  });

  test('DM_BATCH_SIZE= is the concurrency (the default), DM_CONCURRENCY= is 8', () => {
    expect(drainSettings('DM', { DM_CONCURRENCY: '16', DM_BATCH_SIZE: '' })).toMatchObject({
      batchSize: 16,
      concurrency: 16,
    });
    expect(drainSettings('DM', { DM_CONCURRENCY: '', DM_BATCH_SIZE: '' })).toMatchObject({
      batchSize: 8,
      concurrency: 8,
    });
    expect(drainSettings('DM', { PROVIDER_MIN_TIMEOUT_MS: ' ' }).minItemTimeoutMs).toBe(3000);
  });

  test('WEBHOOK_DISABLE_AFTER= → 5', () => {
    expect(webhookSettings(env({ WEBHOOK_DISABLE_AFTER: '' })).disableAfter).toBe(5);
    expect(webhookSettings(env({ WEBHOOK_DISABLE_AFTER: '0' })).disableAfter).toBe(0);
  });
});
