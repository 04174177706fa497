// npm run check:vercel                   vercel.json (`crons` and `schedules`) against the job registry and the route files
// npm run check:vercel -- --plan hobby   also list what a Hobby plan rejects at deploy, and what to change
// npm run check:vercel -- --migrate      rewrite `crons` into `schedules` (same paths and times, zone from the job)
// Exit code 1 when anything is listed. tests/vercel-json.test.ts runs the same checks.
import fs from 'node:fs';
import path from 'node:path';
import { jobs } from '../jobs/index.ts';
import {
  type CronEntry,
  DEFAULT_JITTER_MINUTES,
  intervalMs,
  isValidTimezone,
  jobOfPath,
  parseCron,
  type ScheduleEntry,
  unsupportedMessage,
} from '../lib/schedules.ts';

export { jobOfPath };

export interface Finding {
  subject: string;
  problem: string;
  fix: string;
}

export interface VercelJson {
  crons?: CronEntry[];
  schedules?: Record<string, unknown>;
  functions?: Record<string, { maxDuration?: number }>;
  [key: string]: unknown;
}

type Registry = Record<string, { maxDuration: number; schedule?: string; timezone?: string }>;

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
/**
 * Schedules' bounds. Vercel's stored pages show `"jitter": 5` (/docs/schedules/configuration) but not the range or the
 * name rules; these are the beta's as reported from Vercel's own docs (vercel/eve, docs/design/first-class-schedules):
 * jitter 1–15 minutes, at most 100 static schedules, names of 1–256 characters starting with a letter or digit, then
 * letters, digits, `.`, `_`, `-`. The strictest reading is checked; a looser Vercel only means fewer findings.
 */
export const JITTER_MINUTES = { min: 1, max: 15 } as const;
export const MAX_STATIC_SCHEDULES = 100;
export const SCHEDULE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,255}$/;
const ENTRY_KEYS = new Set(['schedule', 'timezone', 'jitter', 'path', 'function', 'topic', 'requestMethod']);

export function readVercelJson(root: string): VercelJson {
  return JSON.parse(fs.readFileSync(path.join(root, 'vercel.json'), 'utf8'));
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
  if (problems.length === 0) {
    // The runner's own parser must take it too: what it cannot schedule never fires locally.
    try {
      parseCron(expression);
    } catch (e) {
      problems.push(`croner (the local runner's parser) refuses it: ${(e as Error).message}`);
    }
  }
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

/** A schedule entry as the checks see it: where it came from, and what it says. */
interface Entry {
  subject: string;
  source: 'crons' | 'schedules';
  path: string;
  schedule: string;
  timezone: string;
}

/** The problems of one `schedules` entry that do not depend on its job; null target → not checked further. */
function scheduleEntryFindings(name: string, raw: unknown): { findings: Finding[]; entry: Entry | null } {
  const subject = `schedules.${name}`;
  const findings: Finding[] = [];
  if (!SCHEDULE_NAME.test(name))
    findings.push({
      subject,
      problem: 'is not a valid schedule name',
      fix: '1–256 characters: a letter or digit first, then letters, digits, ".", "_" or "-" (e.g. the job name)',
    });
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    findings.push({ subject, problem: 'is not an object', fix: '{ "schedule": "…", "path": "/api/cron/<job>" }' });
    return { findings, entry: null };
  }
  const e = raw as Record<string, unknown>;
  for (const key of Object.keys(e))
    if (!ENTRY_KEYS.has(key))
      findings.push({
        subject,
        problem: `has the unknown key "${key}"`,
        fix: `use only ${[...ENTRY_KEYS].join(', ')}`,
      });
  const targets = ['path', 'function', 'topic'].filter((k) => e[k] !== undefined);
  if (targets.length > 1)
    findings.push({ subject, problem: `has ${targets.join(' and ')}: one target only`, fix: 'keep "path"' });
  const unsupported = unsupportedMessage(name, e as unknown as ScheduleEntry);
  if (unsupported && targets.length <= 1) {
    findings.push({ subject, problem: 'is not supported by this project', fix: unsupported.message });
    return { findings, entry: null };
  }
  if (typeof e.path !== 'string') {
    findings.push({ subject, problem: '"path" is not a string', fix: '"path": "/api/cron/<job>"' });
    return { findings, entry: null };
  }
  if (typeof e.schedule !== 'string') {
    findings.push({ subject, problem: 'has no "schedule"', fix: 'add "schedule": "<5 cron fields>"' });
    return { findings, entry: null };
  }
  let timezone = 'UTC';
  if (e.timezone !== undefined) {
    if (typeof e.timezone === 'string' && isValidTimezone(e.timezone)) timezone = e.timezone;
    else
      findings.push({
        subject: `${subject}.timezone ${JSON.stringify(e.timezone)}`,
        problem: 'is not an IANA time zone name',
        fix: 'write it as the tz database spells it, e.g. "Europe/Berlin", "America/New_York" or "UTC"',
      });
  }
  const jitter = e.jitter ?? DEFAULT_JITTER_MINUTES;
  if (
    typeof jitter !== 'number' ||
    !Number.isInteger(jitter) ||
    jitter < JITTER_MINUTES.min ||
    jitter > JITTER_MINUTES.max
  )
    findings.push({
      subject: `${subject}.jitter ${JSON.stringify(e.jitter)}`,
      problem: `is not a whole number of minutes from ${JITTER_MINUTES.min} to ${JITTER_MINUTES.max}`,
      fix: 'leave it out (the plan default) or give minutes within the range',
    });
  else if (
    expressionProblems(e.schedule).length === 0 &&
    intervalMs(e.schedule, new Date(), timezone) < jitter * 60_000
  )
    findings.push({
      subject: `${subject} "${e.schedule}"`,
      problem: `fires more often than its ${jitter}-minute jitter window`,
      fix: 'Vercel needs the shortest interval to be at least the jitter: lower "jitter" or fire less often',
    });
  if (e.requestMethod !== undefined && e.requestMethod !== 'GET' && e.requestMethod !== 'POST')
    findings.push({
      subject: `${subject}.requestMethod ${JSON.stringify(e.requestMethod)}`,
      problem: 'is neither GET nor POST, the two methods the cron routes answer',
      fix: 'leave it out or use "GET"',
    });
  return { findings, entry: { subject, source: 'schedules', path: e.path, schedule: e.schedule, timezone } };
}

/** The checks of one entry against its job: route path, expression, registry, route file, maxDuration. */
function jobFindings(
  entry: Entry,
  config: VercelJson,
  root: string,
  registry: Registry,
  scheduled: Map<string, Entry>,
): Finding[] {
  const findings: Finding[] = [];
  const job = jobOfPath(entry.path);
  if (!job)
    return [
      {
        subject: entry.subject,
        problem: `path ${entry.path} is not /api/cron/<job>`,
        fix: 'point it at /api/cron/<job>',
      },
    ];
  const earlier = scheduled.get(job);
  if (earlier && earlier.source === entry.source)
    findings.push({ subject: entry.subject, problem: `schedules ${entry.path} again`, fix: 'keep one entry' });
  else if (earlier)
    findings.push({
      subject: entry.subject,
      problem: `schedules ${entry.path}, which ${earlier.source} schedule too: Vercel would call it under both keys`,
      fix: 'keep the job under one key (npm run check:vercel -- --migrate moves crons into schedules)',
    });
  else scheduled.set(job, entry);
  for (const problem of expressionProblems(entry.schedule))
    findings.push({
      subject: `${entry.subject} "${entry.schedule}"`,
      problem,
      fix: `write the schedule as 5 numeric fields (${entry.timezone})`,
    });
  const definition = registry[job];
  if (!definition)
    findings.push({
      subject: entry.subject,
      problem: `${entry.path} has no job in jobs/index.ts`,
      fix: `add jobs/${job}.ts to the registry`,
    });
  if (definition?.schedule !== undefined && definition.schedule !== entry.schedule)
    findings.push({
      subject: `${entry.subject} "${entry.schedule}"`,
      problem: `differs from the job's own schedule "${definition.schedule}" (jobs/${job}.ts)`,
      fix: 'change the schedule in the job definition and vercel.json together (the definition is the source)',
    });
  const zone = definition?.timezone ?? 'UTC';
  if (definition && zone !== entry.timezone)
    findings.push({
      subject: entry.subject,
      problem:
        entry.source === 'crons'
          ? `runs in UTC (every cron does) but jobs/${job}.ts says ${zone}`
          : `runs in ${entry.timezone} but jobs/${job}.ts says ${zone}`,
      fix:
        entry.source === 'crons'
          ? 'a zone needs a `schedules` entry: npm run check:vercel -- --migrate'
          : `make them equal: "timezone": "${zone}" (the definition is the source)`,
    });
  const file = routeFileOf(job);
  if (!fs.existsSync(path.join(root, file)))
    return [
      ...findings,
      { subject: entry.subject, problem: `has no route file ${file}`, fix: `create ${file} with cronRoute(job)` },
    ];
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
  return findings;
}

/** Every entry of both keys that the job checks can look at, and the findings of the entries themselves. */
function entriesOf(config: VercelJson): { entries: Entry[]; findings: Finding[] } {
  const entries: Entry[] = [];
  const findings: Finding[] = [];
  if (config.crons !== undefined && !Array.isArray(config.crons))
    findings.push({
      subject: 'crons',
      problem: 'is not an array',
      fix: '[{ "path": "/api/cron/<job>", "schedule": "…" }]',
    });
  for (const c of Array.isArray(config.crons) ? config.crons : [])
    entries.push({ subject: c.path, source: 'crons', path: c.path, schedule: c.schedule, timezone: 'UTC' });
  const raw = config.schedules;
  if (raw !== undefined && (typeof raw !== 'object' || raw === null || Array.isArray(raw)))
    findings.push({ subject: 'schedules', problem: 'is not an object keyed by name', fix: '{ "<name>": { … } }' });
  else if (raw) {
    const names = Object.keys(raw);
    if (names.length > MAX_STATIC_SCHEDULES)
      findings.push({
        subject: 'schedules',
        problem: `has ${names.length} entries; a project takes at most ${MAX_STATIC_SCHEDULES} static schedules`,
        fix: 'merge jobs or schedule some from another clock (docs/deploy.md)',
      });
    for (const name of names) {
      const checked = scheduleEntryFindings(name, raw[name]);
      findings.push(...checked.findings);
      if (checked.entry) entries.push(checked.entry);
    }
  }
  return { entries, findings };
}

export function checkConfig(root: string, registry: Registry = jobs, config = readVercelJson(root)): Finding[] {
  const { entries, findings } = entriesOf(config);
  const scheduled = new Map<string, Entry>();
  for (const entry of entries) findings.push(...jobFindings(entry, config, root, registry, scheduled));
  for (const job of Object.keys(registry))
    if (!scheduled.has(job))
      findings.push({
        subject: `job ${job}`,
        problem: 'has no schedule in vercel.json (crons or schedules)',
        fix: `add { "path": "/api/cron/${job}", "schedule": "…" } to crons, or a schedules entry`,
      });
  return findings;
}

/** What a Hobby plan refuses at deploy (schedules) or at run time (durations), with what to change. */
export function hobbyFindings(root: string, registry: Registry = jobs, config = readVercelJson(root)): Finding[] {
  const findings: Finding[] = [];
  const raw = (config.schedules ?? {}) as Record<string, Partial<ScheduleEntry>>;
  for (const e of entriesOf(config).entries) {
    if (runsMoreThanOncePerDay(e.schedule))
      findings.push({
        subject: `${e.subject} "${e.schedule}"`,
        problem:
          e.source === 'crons'
            ? 'runs more than once a day; Hobby deploys fail with "Hobby accounts are limited to daily cron jobs"'
            : "runs more than once a day; Hobby limits Cron Jobs to daily, and Vercel's Schedules pages state no " +
              'Hobby cadence of their own, so this check holds schedules to the same',
        fix:
          `use "${dailyVersion(e.schedule)}" (once a day; Hobby fires it anywhere within that hour), or keep the ` +
          'schedule and call the route from an outside scheduler with the CRON_SECRET (docs/deploy.md), or move to Pro',
      });
    if (e.source === 'schedules') {
      const jitter = raw[e.subject.slice('schedules.'.length)]?.jitter;
      if (jitter !== JITTER_MINUTES.max)
        findings.push({
          subject: e.subject,
          problem: `has jitter ${jitter ?? `unset (${DEFAULT_JITTER_MINUTES} assumed)`}; Hobby starts schedule runs within 15 minutes`,
          fix: 'set "jitter": 15 so /api/health allows for the window (it adds the jitter to its grace)',
        });
    }
    const job = jobOfPath(e.path);
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

/**
 * `crons` rewritten as `schedules`: one entry per cron, named after its job, same path and expression, in the zone
 * the job definition gives (UTC unless it says otherwise, which is what the cron ran in). Throws when a job is already
 * under `schedules` (a job under both keys runs twice) or a cron is not /api/cron/<job>.
 */
export function migrateCrons(config: VercelJson, registry: Registry = jobs): VercelJson {
  const crons = config.crons ?? [];
  if (crons.length === 0) throw new Error('vercel.json has no crons: nothing to migrate');
  const existing = (config.schedules ?? {}) as Record<string, Partial<ScheduleEntry>>;
  const taken = new Set(Object.values(existing).map((s) => (s.path ? jobOfPath(s.path) : null)));
  const added: Record<string, ScheduleEntry> = {};
  for (const c of crons) {
    const job = jobOfPath(c.path);
    if (!job) throw new Error(`crons: ${c.path} is not /api/cron/<job>; fix it first (npm run check:vercel)`);
    if (taken.has(job) || existing[job] || added[job])
      throw new Error(`${job} is already under schedules (or twice in crons): keep one entry, then migrate`);
    added[job] = { schedule: c.schedule, timezone: registry[job]?.timezone ?? 'UTC', path: c.path };
  }
  // Same key order as before, `schedules` where `crons` was.
  const out: VercelJson = {};
  for (const [key, value] of Object.entries(config)) {
    if (key === 'crons') out.schedules = { ...existing, ...added };
    else if (key !== 'schedules') out[key] = value;
  }
  return out;
}

/** vercel.json as this repository writes it: one line per cron or schedule, everything else as JSON.stringify does. */
export function formatVercelJson(config: VercelJson): string {
  const indent = (text: string) => text.replace(/\n/g, '\n  ');
  // Entries are flat (strings and numbers): each on one line, spaced as biome formats JSON.
  const inline = (value: unknown) =>
    `{ ${Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`)
      .join(', ')} }`;
  const lines = Object.entries(config).map(([key, value]) => {
    if (key === 'crons' && Array.isArray(value))
      return `"crons": [\n${value.map((c) => `    ${inline(c)}`).join(',\n')}\n  ]`;
    if (key === 'schedules' && value && typeof value === 'object')
      return `"schedules": {\n${Object.entries(value)
        .map(([name, entry]) => `    ${JSON.stringify(name)}: ${inline(entry)}`)
        .join(',\n')}\n  }`;
    return `${JSON.stringify(key)}: ${indent(JSON.stringify(value, null, 2))}`;
  });
  return `{\n  ${lines.join(',\n  ')}\n}\n`;
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
    console.error('usage: npm run check:vercel [-- --plan hobby|pro|enterprise] [-- --migrate]');
    process.exit(2);
  }
  if (args.includes('--migrate')) {
    try {
      const migrated = migrateCrons(readVercelJson(root));
      fs.writeFileSync(path.join(root, 'vercel.json'), formatVercelJson(migrated));
      console.log(`vercel.json: crons moved to schedules (${Object.keys(migrated.schedules ?? {}).length} entries)`);
    } catch (e) {
      console.error(`not migrated: ${(e as Error).message}`);
      process.exit(1);
    }
  }
  const config = readVercelJson(root);
  const crons = config.crons?.length ?? 0;
  const named = Object.keys(config.schedules ?? {}).length;
  const general = checkConfig(root, jobs, config);
  print(`vercel.json (${crons} crons, ${named} schedules, ${Object.keys(jobs).length} jobs)`, general);
  let total = general.length;
  if (plan === 'hobby') {
    const hobby = hobbyFindings(root, jobs, config);
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
