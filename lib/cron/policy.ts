import { z } from 'zod';

/**
 * Retry policy shared by every job and passed to the SQL settle functions: the backoff schedule
 * `+1 min, +5 min, +30 min, +6 h`, then failed after 5 attempts. Overridable per deployment.
 */
export interface RetryPolicy {
  maxAttempts: number;
  backoffSeconds: number[];
}

const DEFAULT: RetryPolicy = { maxAttempts: 5, backoffSeconds: [60, 300, 1800, 21_600] };

const envSchema = z.object({
  JOB_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).optional(),
  JOB_BACKOFF_SECONDS: z
    .string()
    .regex(/^\d+(,\d+)*$/, 'comma-separated whole seconds, e.g. 60,300,1800,21600')
    .transform((s) => s.split(',').map(Number))
    .optional(),
});

export function retryPolicy(env: NodeJS.ProcessEnv = process.env): RetryPolicy {
  const parsed = envSchema.safeParse({
    JOB_MAX_ATTEMPTS: env.JOB_MAX_ATTEMPTS || undefined,
    JOB_BACKOFF_SECONDS: env.JOB_BACKOFF_SECONDS || undefined,
  });
  if (!parsed.success)
    throw new Error(
      `invalid retry policy: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  return {
    maxAttempts: parsed.data.JOB_MAX_ATTEMPTS ?? DEFAULT.maxAttempts,
    backoffSeconds: parsed.data.JOB_BACKOFF_SECONDS ?? DEFAULT.backoffSeconds,
  };
}
