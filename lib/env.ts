/**
 * A setting from the environment: undefined when unset, empty or blank (a copied .env.example leaves values empty,
 * and an empty value must mean "the default", not 0), otherwise trimmed.
 */
export function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name];
  if (v === undefined) return undefined;
  const t = v.trim();
  return t === '' ? undefined : t;
}
