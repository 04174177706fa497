import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { jobs } from '../jobs/index.ts';
import { describeCron } from '../lib/admin/describe-cron.ts';
import { readSchedules } from '../lib/schedules.ts';
import {
  checkConfig,
  dailyVersion,
  declaredMaxDuration,
  expressionProblems,
  formatVercelJson,
  hobbyFindings,
  jobOfPath,
  migrateCrons,
  routeFileOf,
  runsMoreThanOncePerDay,
} from '../scripts/check-vercel.ts';

// Read at test time, not imported: other jobs are being added to vercel.json and the registry, and whatever is
// there must hold together.
const root = path.resolve(import.meta.dirname, '..');
const config = JSON.parse(fs.readFileSync(path.join(root, 'vercel.json'), 'utf8')) as {
  crons: { path: string; schedule: string }[];
};
const crons = config.crons.map((c) => [c.path, c] as const);

describe('vercel.json', () => {
  test('has crons', () => {
    expect(config.crons.length).toBeGreaterThan(0);
  });

  test.each(crons)('%s is /api/cron/<job>, once, with a route file and a registered job', (cronPath) => {
    const job = jobOfPath(cronPath);
    expect(job, 'path must be /api/cron/<job> with no query').not.toBeNull();
    expect(config.crons.filter((c) => c.path === cronPath)).toHaveLength(1);
    expect(fs.existsSync(path.join(root, routeFileOf(job!))), routeFileOf(job!)).toBe(true);
    expect(Object.keys(jobs)).toContain(job);
  });

  test.each(crons)("%s: the route file's maxDuration literal equals the job's", (cronPath) => {
    const job = jobOfPath(cronPath)!;
    const source = fs.readFileSync(path.join(root, routeFileOf(job)), 'utf8');
    expect(declaredMaxDuration(source), `${routeFileOf(job)} needs \`export const maxDuration = N\``).toBe(
      jobs[job]?.maxDuration,
    );
  });

  test.each(crons)('%s: five numeric fields, no day or month names', (_path, cron) => {
    expect(cron.schedule.trim().split(/\s+/)).toHaveLength(5);
    expect(cron.schedule).not.toMatch(/[a-z]/i);
    expect(expressionProblems(cron.schedule)).toEqual([]);
  });

  test.each(crons)('%s has a plain-words description for /admin', (_path, cron) => {
    expect(describeCron(cron.schedule)).not.toMatch(/^cron /);
  });

  test.each(Object.keys(jobs))('job %s has a cron', (job) => {
    expect(config.crons.map((c) => jobOfPath(c.path))).toContain(job);
  });

  test('the check script agrees: nothing to fix', () => {
    expect(checkConfig(root)).toEqual([]);
  });

  test.each(Object.values(jobs))('$name: the schedule lives on the job definition and vercel.json agrees', (job) => {
    expect(job.schedule).toBeTypeOf('string');
    expect(config.crons.find((c) => jobOfPath(c.path) === job.name)?.schedule).toBe(job.schedule);
  });

  test('a vercel.json schedule that differs from the job definition is reported', () => {
    const registry = { ...jobs, 'dm-queue': { ...jobs['dm-queue']!, schedule: '0 * * * *' } };
    const findings = checkConfig(root, registry);
    expect(findings).toHaveLength(1);
    expect(findings[0]!.problem).toMatch(/differs from the job's own schedule "0 \* \* \* \*"/);
  });
});

describe('expressionProblems', () => {
  test.each([
    ['*/15 * * * *', []],
    ['5 0 * * *', []],
    ['0 9 * * 1-5', []],
    ['0 9 1,15 * *', []],
    ['0-30/10 8-18 * 1-12 0,6', []],
    ['* * * *', [/5/]],
    ['0 0 * * * *', [/5/]],
    ['0 9 * * MON', [/names/]],
    ['0 9 * JAN *', [/names/]],
    ['60 * * * *', [/minute.*0-59/]],
    ['0 24 * * *', [/hour.*0-23/]],
    ['0 0 0 * *', [/day of month.*1-31/]],
    ['0 0 * * 7', [/day of week.*0-6/]],
    ['0 0 L * *', [/names/]],
    ['0 0 ? * *', [/not a number/]],
    ['*/0 * * * *', [/zero step/]],
    ['0 0 1 * 1', [/both day of month and day of week/]],
  ])('%s', (expression, expected) => {
    const problems = expressionProblems(expression);
    expect(problems).toHaveLength(expected.length);
    expected.forEach((re, i) => {
      expect(problems[i]).toMatch(re);
    });
  });
});

describe('Hobby plan', () => {
  test.each([
    ['*/15 * * * *', true, '0 0 * * *'],
    ['0 * * * *', true, '0 0 * * *'],
    ['0 0,12 * * *', true, '0 0 * * *'],
    ['30 */6 * * *', true, '30 0 * * *'],
    ['5 0 * * *', false, '5 0 * * *'],
    ['0 9 * * 1-5', false, '0 9 * * 1-5'],
    ['0 3 1 * *', false, '0 3 1 * *'],
  ])('%s runs more than once a day: %s (daily: %s)', (expression, more, daily) => {
    expect(runsMoreThanOncePerDay(expression)).toBe(more);
    expect(dailyVersion(expression)).toBe(daily);
    expect(runsMoreThanOncePerDay(dailyVersion(expression))).toBe(false);
  });

  test('lists exactly the crons that run more than once a day, each with a daily replacement', () => {
    const listed = hobbyFindings(root).filter((f) => f.problem.startsWith('runs more than once a day'));
    const expected = config.crons.filter((c) => runsMoreThanOncePerDay(c.schedule));
    expect(listed.map((f) => f.subject)).toEqual(expected.map((c) => `${c.path} "${c.schedule}"`));
    for (const f of listed) expect(f.fix).toMatch(/use "\d+ \d+ /);
  });
});

describe('describeCron', () => {
  test.each([
    ['* * * * *', 'every minute'],
    ['*/1 * * * *', 'every minute'],
    ['*/15 * * * *', 'every 15 minutes'],
    ['0 * * * *', 'every hour, on the hour'],
    ['7 * * * *', 'every hour at minute 7'],
    ['0 */6 * * *', 'every 6 hours at minute 0'],
    ['5 0 * * *', 'every day at 00:05 UTC'],
    ['30 9 * * 1-5', 'at 09:30 UTC on Monday–Friday'],
    ['0 8 * * 0,6', 'at 08:00 UTC on Sunday, Saturday'],
    ['0 3 1 * *', 'on day 1 of every month at 03:00 UTC'],
    ['0 3 * 1 *', 'cron 0 3 * 1 * (UTC)'],
    ['0-10 * * * *', 'cron 0-10 * * * * (UTC)'],
    ['nonsense', 'nonsense'],
  ])('%s → %s', (expression, words) => {
    expect(describeCron(expression)).toBe(words);
  });
});

describe('schedules in vercel.json (check:vercel)', () => {
  const route = (job: string) => `/api/cron/${job}`;
  const withSchedules = (schedules: Record<string, unknown>, crons = config.crons) => ({
    $schema: 'https://openapi.vercel.sh/vercel.json',
    crons: crons.filter((c) => !Object.values(schedules).some((s) => (s as { path?: string }).path === c.path)),
    schedules,
  });

  test('a path schedule in its own zone counts as the job schedule: nothing to fix', () => {
    const registry = { ...jobs, analytics: { ...jobs.analytics!, timezone: 'Europe/Berlin' } };
    const cfg = withSchedules({
      analytics: { schedule: jobs.analytics!.schedule, timezone: 'Europe/Berlin', jitter: 5, path: route('analytics') },
    });
    expect(checkConfig(root, registry, cfg)).toEqual([]);
  });

  test.each([
    [
      'a name that starts with a dash',
      { '-nightly': { schedule: '5 0 * * *', path: route('analytics') } },
      /valid schedule name/,
    ],
    [
      'a name over 256 characters',
      { ['a'.repeat(257)]: { schedule: '5 0 * * *', path: route('analytics') } },
      /valid schedule name/,
    ],
    [
      'an unknown zone',
      { analytics: { schedule: '5 0 * * *', timezone: 'Mars/Olympus', path: route('analytics') } },
      /IANA/,
    ],
    [
      'a lower-case zone',
      { analytics: { schedule: '5 0 * * *', timezone: 'europe/berlin', path: route('analytics') } },
      /IANA/,
    ],
    ['jitter 0', { analytics: { schedule: '5 0 * * *', jitter: 0, path: route('analytics') } }, /from 1 to 15/],
    ['jitter 16', { analytics: { schedule: '5 0 * * *', jitter: 16, path: route('analytics') } }, /from 1 to 15/],
    ['jitter 2.5', { analytics: { schedule: '5 0 * * *', jitter: 2.5, path: route('analytics') } }, /from 1 to 15/],
    [
      'jitter over the interval',
      { webhooks: { schedule: '* * * * *', jitter: 5, path: route('webhooks') } },
      /jitter window/,
    ],
    ['day names', { analytics: { schedule: '5 0 * * MON', path: route('analytics') } }, /names/],
    ['a path that is no cron route', { x: { schedule: '5 0 * * *', path: '/api/other' } }, /not \/api\/cron\/<job>/],
    [
      'a job that does not exist',
      { ghost: { schedule: '5 0 * * *', path: route('ghost') } },
      /no job in jobs\/index.ts/,
    ],
    ['a function target', { cleanup: { schedule: '0 * * * *', function: 'api/cleanup' } }, /not supported/],
    ['a topic target', { digests: { schedule: '0 8 * * *', topic: 'digests' } }, /not supported/],
    ['two targets', { analytics: { schedule: '5 0 * * *', path: route('analytics'), topic: 't' } }, /one target only/],
    ['no schedule', { analytics: { path: route('analytics') } }, /has no "schedule"/],
    [
      'an unknown key',
      { analytics: { schedule: '5 0 * * *', path: route('analytics'), retries: 3 } },
      /unknown key "retries"/,
    ],
    ['a PUT', { analytics: { schedule: '5 0 * * *', path: route('analytics'), requestMethod: 'PUT' } }, /GET nor POST/],
    [
      'a schedule unlike the job',
      { analytics: { schedule: '0 1 * * *', path: route('analytics') } },
      /differs from the job's own/,
    ],
    [
      'a zone unlike the job',
      { analytics: { schedule: '5 0 * * *', timezone: 'Asia/Tokyo', path: route('analytics') } },
      /jobs\/analytics.ts says UTC/,
    ],
  ])('%s is reported', (_case, schedules, problem) => {
    const findings = checkConfig(root, jobs, withSchedules(schedules as Record<string, unknown>));
    expect(findings.map((f) => `${f.subject} ${f.problem} → ${f.fix}`).join('\n')).toMatch(problem);
  });

  test('a job under both crons and schedules is an error', () => {
    const cfg = {
      crons: config.crons,
      schedules: { analytics: { schedule: jobs.analytics!.schedule, path: route('analytics') } },
    };
    const findings = checkConfig(root, jobs, cfg);
    expect(findings).toHaveLength(1);
    expect(findings[0]!.problem).toMatch(/which crons schedule too: Vercel would call it under both keys/);
  });

  test('a zone on the job with the job still under crons: migrate', () => {
    const registry = { ...jobs, analytics: { ...jobs.analytics!, timezone: 'Europe/Berlin' } };
    const findings = checkConfig(root, registry);
    expect(findings.map((f) => f.problem)).toEqual([
      'runs in UTC (every cron does) but jobs/analytics.ts says Europe/Berlin',
    ]);
    expect(findings[0]!.fix).toMatch(/--migrate/);
  });

  test('Hobby: a schedule firing more than daily is listed as for crons, and jitter must be 15', () => {
    const cfg = withSchedules({ webhooks: { schedule: '* * * * *', path: route('webhooks') } });
    const hobby = hobbyFindings(root, jobs, cfg).filter((f) => f.subject.startsWith('schedules.'));
    expect(hobby.map((f) => f.problem)).toEqual([
      expect.stringMatching(/^runs more than once a day/),
      expect.stringMatching(/jitter unset.*15 minutes/),
    ]);
  });
});

describe('npm run check:vercel -- --migrate', () => {
  test("the project's own vercel.json: crons become schedules, same paths and times, UTC, and the check passes", () => {
    const migrated = migrateCrons(config);
    expect(migrated.crons).toBeUndefined();
    expect(Object.keys(migrated)).toEqual(Object.keys(config).map((k) => (k === 'crons' ? 'schedules' : k)));
    expect(Object.entries(migrated.schedules ?? {})).toEqual(
      config.crons.map((c) => [jobOfPath(c.path), { schedule: c.schedule, timezone: 'UTC', path: c.path }]),
    );
    expect(checkConfig(root, jobs, migrated)).toEqual([]);
    // What the local runner, /admin and /api/health read from it: the same jobs at the same times.
    const before = readSchedules(config).schedules.map((s) => [s.job, s.path, s.schedule, s.timezone]);
    const after = readSchedules(migrated as never).schedules.map((s) => [s.job, s.path, s.schedule, s.timezone]);
    expect(after).toEqual(before);
    expect(JSON.parse(formatVercelJson(migrated))).toEqual(migrated);
  });

  test('a zone on the job definition goes with it', () => {
    const registry = { ...jobs, analytics: { ...jobs.analytics!, timezone: 'Europe/Berlin' } };
    expect((migrateCrons(config, registry).schedules as Record<string, { timezone: string }>).analytics!.timezone).toBe(
      'Europe/Berlin',
    );
  });

  test('refused when there is nothing to move or a job would end up under both keys', () => {
    expect(() => migrateCrons({ schedules: {} })).toThrow(/no crons/);
    expect(() =>
      migrateCrons({ crons: config.crons, schedules: { a: { schedule: '5 0 * * *', path: config.crons[0]!.path } } }),
    ).toThrow(/already under schedules/);
  });

  test('the command rewrites vercel.json in place and the check passes; a second run refuses', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'migrate-'));
    try {
      fs.copyFileSync(path.join(root, 'vercel.json'), path.join(dir, 'vercel.json'));
      fs.symlinkSync(path.join(root, 'app'), path.join(dir, 'app')); // the route files the check looks for
      const run = () =>
        spawnSync(process.execPath, [path.join(root, 'scripts/check-vercel.ts'), '--migrate'], {
          cwd: dir,
          encoding: 'utf8',
        });
      const first = run();
      expect(first.stdout).toMatch(/crons moved to schedules \(\d+ entries\)/);
      expect(first.stdout).toMatch(/vercel\.json \(0 crons, \d+ schedules, \d+ jobs\): OK/);
      expect(first.status).toBe(0);
      const written = fs.readFileSync(path.join(dir, 'vercel.json'), 'utf8');
      expect(written).toBe(formatVercelJson(migrateCrons(config)));
      const second = run();
      expect(second.status).toBe(1);
      expect(second.stderr).toMatch(/not migrated: vercel.json has no crons/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
