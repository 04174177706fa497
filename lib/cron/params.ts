import { z } from 'zod';

const boolParam = z.enum(['1', '0', 'true', 'false']).transform((v) => v === '1' || v === 'true');
const intParam = (name: string) =>
  z
    .string()
    .regex(/^\d{1,12}$/, `${name} must be a whole number`)
    .transform((v) => Number.parseInt(v, 10));

/** The query every cron route accepts. Unknown parameters are refused too: a typo should not silently do nothing. */
export const runParamsSchema = z
  .object({
    limit: intParam('limit').pipe(z.number().int().min(1).max(10_000)).optional(),
    budgetMs: intParam('budgetMs').pipe(z.number().int().positive()).optional(),
    dryRun: boolParam.optional(),
  })
  .strict();

export type RunParams = z.infer<typeof runParamsSchema>;

export type ParsedParams = { ok: true; params: RunParams } | { ok: false; error: string };

export function parseRunParams(searchParams: URLSearchParams): ParsedParams {
  const raw: Record<string, string> = {};
  for (const key of new Set(searchParams.keys())) {
    const all = searchParams.getAll(key);
    if (all.length > 1) return { ok: false, error: `${key}: given ${all.length} times; give it once` };
    raw[key] = all[0]!;
  }
  const parsed = runParamsSchema.safeParse(raw);
  if (parsed.success) return { ok: true, params: parsed.data };
  return {
    ok: false,
    error: parsed.error.issues.map((i) => `${i.path.join('.') || 'query'}: ${i.message}`).join('; '),
  };
}
