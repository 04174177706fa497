import { z } from 'zod';

const int = (min: number, max: number, fallback: number) => z.coerce.number().int().min(min).max(max).catch(fallback);

const schema = z.object({
  batchSize: int(1, 1000, 50),
  concurrency: int(1, 100, 8),
  minItemTimeoutMs: int(100, 600_000, 3000),
});

export type DrainSettings = z.infer<typeof schema>;

/**
 * Per-job drain settings from the environment: `<PREFIX>_BATCH_SIZE`, `<PREFIX>_CONCURRENCY`, and
 * `PROVIDER_MIN_TIMEOUT_MS` (an item is not started when less than this is left for its provider call).
 * An invalid value falls back to the default rather than stopping the queue.
 */
export function drainSettings(prefix: string, env: NodeJS.ProcessEnv = process.env): DrainSettings {
  return schema.parse({
    batchSize: env[`${prefix}_BATCH_SIZE`] ?? 50,
    concurrency: env[`${prefix}_CONCURRENCY`] ?? 8,
    minItemTimeoutMs: env.PROVIDER_MIN_TIMEOUT_MS ?? 3000,
  });
}
