/**
 * How long the retention job keeps each kind of row, in days, from the environment. Unlike the drain settings, an
 * invalid value does not fall back to a default: this job deletes, and a typo must stop it with the reason (the run
 * ends `error` and deletes nothing) rather than prune by a number nobody chose.
 */
export const RETENTION_KINDS = ['skipped_runs', 'runs', 'webhook_deliveries', 'sync_jobs'] as const;
export type RetentionKind = (typeof RETENTION_KINDS)[number];

export type RetentionDays = Record<RetentionKind, number>;

const VARIABLES: Record<RetentionKind, { name: string; fallback: number }> = {
  // Skipped runs (paused job, lease held) are most of the every-minute rows and say nothing after a day or two.
  skipped_runs: { name: 'RETENTION_SKIPPED_RUNS_DAYS', fallback: 2 },
  runs: { name: 'RETENTION_RUNS_DAYS', fallback: 30 },
  webhook_deliveries: { name: 'RETENTION_WEBHOOKS_DAYS', fallback: 14 },
  sync_jobs: { name: 'RETENTION_SYNC_JOBS_DAYS', fallback: 30 },
};

export const MAX_RETENTION_DAYS = 36_500;

export class RetentionConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RetentionConfigError';
  }
}

export function retentionDays(env: Record<string, string | undefined> = process.env): RetentionDays {
  const days = {} as RetentionDays;
  for (const kind of RETENTION_KINDS) {
    const { name, fallback } = VARIABLES[kind];
    const raw = env[name]?.trim() ?? '';
    if (raw === '') {
      days[kind] = fallback;
      continue;
    }
    const n = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < 1 || n > MAX_RETENTION_DAYS)
      throw new RetentionConfigError(
        `${name} must be a whole number of days from 1 to ${MAX_RETENTION_DAYS}, got ${JSON.stringify(raw.slice(0, 40))}`,
      );
    days[kind] = n;
  }
  return days;
}
