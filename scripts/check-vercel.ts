// npm run check:vercel                   vercel.json against the job registry and the route files
// npm run check:vercel -- --plan hobby   also list the crons a Hobby plan rejects at deploy, and what to change
// Exit code 1 when anything is listed. tests/vercel-json.test.ts runs the same checks.
import fs from 'node:fs';
import path from 'node:path';
import { jobs } from '../jobs/index.ts';

export interface CronEntry {
  path: string;
  schedule: string;
}

export interface Finding {
  subject: string;
  problem: string;
  fix: string;
}

const FIELDS = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12 },
  // Vercel documents 0-6 (Sunday = 0).
  { name: 'day of week', min: 0, max: 6 },
] as const;

/** Hobby functions run at most 300 s (Fluid compute); Pro up to 800 s. */
export const HOBBY_MAX_DURATION = 300;

export function readVercelJson(root: string): {
  crons?: CronEntry[];
  functions?: Record<string, { maxDuration?: number }>;
} {
  return JSON.parse(fs.readFileSync(path.join(root, 'vercel.json'), 'utf8'));
}

export function jobOfPath(cronPath: string): string | null {
  return /^\/api\/cron\/([a-z0-9-]+)$/.exec(cronPath)?.[1] ?? null;
}

export const routeFileOf = (job: string) => `app/api/cron/${job}/route.ts`;

/** The literal of `export const maxDuration = N` (Next reads it statically, so it must be a plain number). */
export function declaredMaxDuration(source: string): number | null {
  const m = /^export const maxDuration = (\d+);?\s*$/m.exec(source);
  return m ? Number(m[1]) : null;
}

/** What Vercel would refuse in a schedule: anything but five numeric fields in range. Empty when fine. */
export function expressionProblems(expression: string): string[] {
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 5)
    return [`has ${fields.length} fields; Vercel takes exactly 5 (minute hour day month weekday)`];
  const problems: string[] = [];
  fields.forEach((field, i) => {
    const spec = FIELDS[i]!;
    if (/[a-z]/i.test(field)) {
      problems.push(`${spec.name} "${field}" uses names; Vercel takes numbers only (e.g. 1 for MON or JAN)`);
      return;
    }
    for (const part of field.split(',')) {
      const m = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
      if (!m) {
        problems.push(`${spec.name} "${part}" is not a number, range, list or step`);
        continue;
      }
      const numbers = [m[2], m[3]].filter((n) => n !== undefined).map(Number);
      if (numbers.some((n) => n < spec.min || n > spec.max))
        problems.push(`${spec.name} "${part}" is outside ${spec.min}-${spec.max}`);
      if (m[4] !== undefined && Number(m[4]) < 1) problems.push(`${spec.name} "${part}" has a zero step`);
    }
  });
  if (fields[2] !== '*' && fields[4] !== '*')
    problems.push('sets both day of month and day of week; Vercel needs one of them to be *');
  return problems;
}

/** Hobby runs a cron at most once a day: the minute and the hour must each be one number. */
export function runsMoreThanOncePerDay(expression: string): boolean {
  const [minute, hour] = expression.trim().split(/\s+/);
  return !/^\d+$/.test(minute ?? '') || !/^\d+$/.test(hour ?? '');
}

/** A once-a-day version of the schedule: the first minute and hour it used to fire at. */
export function dailyVersion(expression: string): string {
  const [minute = '0', hour = '0', ...rest] = expression.trim().split(/\s+/);
  const first = (field: string) => /^(\d+)/.exec(field)?.[1] ?? '0';
  return [first(minute), first(hour), ...rest].join(' ');
}

export function checkConfig(
  root: string,
  registry: Record<string, { maxDuration: number; schedule?: string }> = jobs,
): Finding[] {
  const config = readVercelJson(root);
  const crons = config.crons ?? [];
  const findings: Finding[] = [];
  const scheduled = new Set<string>();
  for (const c of crons) {
    const job = jobOfPath(c.path);
    if (!job) {
      findings.push({ subject: c.path, problem: 'is not /api/cron/<job>', fix: 'point the cron at /api/cron/<job>' });
      continue;
    }
    if (scheduled.has(job)) findings.push({ subject: c.path, problem: 'appears twice', fix: 'keep one entry' });
    scheduled.add(job);
    for (const problem of expressionProblems(c.schedule))
      findings.push({
        subject: `${c.path} "${c.schedule}"`,
        problem,
        fix: 'write the schedule as 5 numeric fields (UTC)',
      });
    const file = routeFileOf(job);
    const definition = registry[job];
    if (definition?.schedule !== undefined && definition.schedule !== c.schedule)
      findings.push({
        subject: `${c.path} "${c.schedule}"`,
        problem: `differs from the job's own schedule "${definition.schedule}" (jobs/${job}.ts)`,
        fix: 'change the schedule in the job definition and vercel.json together (the definition is the source)',
      });
    if (!definition)
      findings.push({
        subject: c.path,
        problem: 'has no job in jobs/index.ts',
        fix: `add jobs/${job}.ts to the registry`,
      });
    if (!fs.existsSync(path.join(root, file))) {
      findings.push({
        subject: c.path,
        problem: `has no route file ${file}`,
        fix: `create ${file} with cronRoute(job)`,
      });
      continue;
    }
    const declared = declaredMaxDuration(fs.readFileSync(path.join(root, file), 'utf8'));
    if (declared === null)
      findings.push({ subject: file, problem: 'has no `export const maxDuration = N`', fix: 'add it (seconds)' });
    else if (definition && declared !== definition.maxDuration)
      findings.push({
        subject: file,
        problem: `maxDuration = ${declared} but the job says ${definition.maxDuration}`,
        fix: 'make them equal: the job budgets its run from its own maxDuration',
      });
    const override = config.functions?.[file]?.maxDuration;
    if (override !== undefined && definition && override !== definition.maxDuration)
      findings.push({
        subject: `vercel.json functions["${file}"]`,
        problem: `maxDuration = ${override} overrides the route's ${declared}`,
        fix: 'remove it or make it equal',
      });
  }
  for (const job of Object.keys(registry))
    if (!scheduled.has(job))
      findings.push({
        subject: `job ${job}`,
        problem: 'has no cron in vercel.json',
        fix: `add { "path": "/api/cron/${job}", "schedule": "…" }`,
      });
  return findings;
}

/** What a Hobby plan refuses at deploy (schedules) or at run time (durations), with what to change. */
export function hobbyFindings(root: string, registry: Record<string, { maxDuration: number }> = jobs): Finding[] {
  const findings: Finding[] = [];
  for (const c of readVercelJson(root).crons ?? []) {
    if (runsMoreThanOncePerDay(c.schedule))
      findings.push({
        subject: `${c.path} "${c.schedule}"`,
        problem: 'runs more than once a day; Hobby deploys fail with "Hobby accounts are limited to daily cron jobs"',
        fix:
          `use "${dailyVersion(c.schedule)}" (once a day; Hobby fires it anywhere within that hour), or keep the ` +
          'schedule and call the route from an outside scheduler with the CRON_SECRET, or move to Pro',
      });
    const job = jobOfPath(c.path);
    const max = job ? registry[job]?.maxDuration : undefined;
    if (max !== undefined && max > HOBBY_MAX_DURATION)
      findings.push({
        subject: routeFileOf(job!),
        problem: `maxDuration ${max} s is over Hobby's ${HOBBY_MAX_DURATION} s`,
        fix: `lower it to ${HOBBY_MAX_DURATION} in the job and its route file (the run resumes from its cursor next time)`,
      });
  }
  return findings;
}

function print(title: string, findings: Finding[]): void {
  console.log(`${title}: ${findings.length === 0 ? 'OK' : `${findings.length} to fix`}`);
  for (const f of findings) console.log(`  ✗ ${f.subject} ${f.problem}\n    → ${f.fix}`);
}

if (import.meta.main) {
  const root = process.cwd();
  const args = process.argv.slice(2);
  const planAt = args.indexOf('--plan');
  const plan = planAt === -1 ? 'pro' : args[planAt + 1];
  if (!plan || !['hobby', 'pro', 'enterprise'].includes(plan)) {
    console.error('usage: npm run check:vercel [-- --plan hobby|pro|enterprise]');
    process.exit(2);
  }
  const crons = readVercelJson(root).crons ?? [];
  const general = checkConfig(root);
  print(`vercel.json (${crons.length} crons, ${Object.keys(jobs).length} jobs)`, general);
  let total = general.length;
  if (plan === 'hobby') {
    const hobby = hobbyFindings(root);
    print('Hobby plan', hobby);
    if (hobby.length > 0)
      console.log(
        '  Note: Hobby fires a daily cron anywhere within its hour, so set HEALTH_GRACE_MINUTES=70 or /api/health ' +
          'will report it overdue.',
      );
    total += hobby.length;
  }
  process.exit(total === 0 ? 0 : 1);
}
