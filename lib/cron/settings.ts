import { z } from 'zod';

const int = (min: number, max: number, fallback: number) => z.coerce.number().int().min(min).max(max).catch(fallback);

const schema = z.object({
  batchSize: int(1, 1000, 50),
  concurrency: int(1, 100, 8),
  minItemTimeoutMs: int(100, 600_000, 3000),
});

export type DrainSettings = z.infer<typeof schema>;

/**
 * Per-job drain settings from the environment: `<PREFIX>_CONCURRENCY` (default 8), `<PREFIX>_BATCH_SIZE` (default: the
 * concurrency — every claimed item starts at once, so a function killed mid-batch leaves at most that many items
 * with an unknown outcome; raise it for zero-latency providers where claim round trips dominate), and
 * `PROVIDER_MIN_TIMEOUT_MS` (an item is not started when less than this is left for its provider call).
 * An invalid value falls back to the default rather than stopping the queue.
 */
export function drainSettings(prefix: string, env: NodeJS.ProcessEnv = process.env): DrainSettings {
  const concurrency = env[`${prefix}_CONCURRENCY`] ?? 8;
  return schema.parse({
    batchSize: env[`${prefix}_BATCH_SIZE`] ?? concurrency,
    concurrency,
    minItemTimeoutMs: env.PROVIDER_MIN_TIMEOUT_MS ?? 3000,
  });
}
