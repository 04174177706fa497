import { z } from 'zod';

/**
 * The retry policy of each queue lives in its `queue_policies` row (max_attempts, backoff_seconds,
 * retry_after_max_seconds; defaults 5 attempts and +1 min, +5 min, +30 min, +6 h), the one place the settle functions
 * read it from. `JOB_MAX_ATTEMPTS` / `JOB_BACKOFF_SECONDS` override it for every queue of a deployment without a
 * migration: passed to each settle call, they win over the row; unset, the row decides.
 */
export interface PolicyOverride {
  maxAttempts?: number;
  backoffSeconds?: number[];
}

const envSchema = z.object({
  JOB_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).optional(),
  JOB_BACKOFF_SECONDS: z
    .string()
    .regex(/^\d+(,\d+)*$/, 'comma-separated whole seconds, e.g. 60,300,1800,21600')
    .transform((s) => s.split(',').map(Number))
    .pipe(z.array(z.number().int().min(1).max(31_536_000)).min(1).max(20))
    .optional(),
});

export function policyOverride(env: NodeJS.ProcessEnv = process.env): PolicyOverride {
  const parsed = envSchema.safeParse({
    JOB_MAX_ATTEMPTS: env.JOB_MAX_ATTEMPTS || undefined,
    JOB_BACKOFF_SECONDS: env.JOB_BACKOFF_SECONDS || undefined,
  });
  if (!parsed.success)
    throw new Error(
      `invalid retry policy: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  return { maxAttempts: parsed.data.JOB_MAX_ATTEMPTS, backoffSeconds: parsed.data.JOB_BACKOFF_SECONDS };
}

/** The override as the settle functions' parameters (absent when unset, so the queue's row decides). */
export function policyArgs(policy: PolicyOverride | undefined): Record<string, unknown> {
  return { p_max_attempts: policy?.maxAttempts, p_backoff_seconds: policy?.backoffSeconds };
}
