import { z } from 'zod';
import { envValue } from '../env.ts';

const int = (min: number, max: number, fallback: number) => z.coerce.number().int().min(min).max(max).catch(fallback);
/** `1`, `true`, `on`, `yes` (any case) turn a flag on; anything else, or nothing, leaves it off. */
const flag = z
  .unknown()
  .transform((v) => typeof v === 'string' && ['1', 'true', 'on', 'yes'].includes(v.trim().toLowerCase()));

const schema = z.object({
  batchSize: int(1, 1000, 50),
  concurrency: int(1, 100, 8),
  minItemTimeoutMs: int(100, 600_000, 3000),
  prefetch: flag,
});

export type DrainSettings = z.infer<typeof schema>;

/**
 * Per-job drain settings from the environment: `<PREFIX>_CONCURRENCY` (default 8), `<PREFIX>_BATCH_SIZE` (default: the
 * concurrency — every claimed item starts at once, so a function killed mid-batch leaves at most that many items
 * with an unknown outcome; raise it for zero-latency providers where claim round trips dominate),
 * `<PREFIX>_PREFETCH` (off by default: claim the next batch while this one is in flight, so the concurrency slots
 * never wait for a settle and a claim; a function killed then leaves up to 2 × the batch size with an unknown outcome),
 * and `PROVIDER_MIN_TIMEOUT_MS` (an item is not started when less than this is left for its provider call).
 * An invalid value falls back to the default rather than stopping the queue.
 */
export function drainSettings(prefix: string, env: Record<string, string | undefined> = process.env): DrainSettings {
  // An empty value (a copied .env.example) is the default, not 0.
  const e = env as NodeJS.ProcessEnv;
  const concurrency = envValue(e, `${prefix}_CONCURRENCY`) ?? 8;
  return schema.parse({
    batchSize: envValue(e, `${prefix}_BATCH_SIZE`) ?? concurrency,
    concurrency,
    minItemTimeoutMs: envValue(e, 'PROVIDER_MIN_TIMEOUT_MS') ?? 3000,
    prefetch: env[`${prefix}_PREFETCH`],
  });
}
