/** Times on /admin: UTC (what the schedules use) plus a relative hint, rendered on the server at each refresh. */

export function utc(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '—' : `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

export function relative(iso: string | null | undefined, now: Date): string {
  if (!iso) return 'never';
  const ms = new Date(iso).getTime() - now.getTime();
  const abs = Math.abs(ms);
  const text =
    abs < 45_000
      ? `${Math.max(1, Math.round(abs / 1000))} s`
      : abs < 90 * 60_000
        ? `${Math.round(abs / 60_000)} min`
        : abs < 36 * 3600_000
          ? `${Math.round(abs / 3600_000)} h`
          : `${Math.round(abs / 86_400_000)} d`;
  return ms < 0 ? `${text} ago` : `in ${text}`;
}

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 60_000)} min`;
}

export function truncate(text: string | null | undefined, max = 120): string {
  if (!text) return '';
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
