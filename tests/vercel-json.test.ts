import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { jobs } from '../jobs/index.ts';
import { describeCron } from '../lib/admin/describe-cron.ts';
import {
  checkConfig,
  dailyVersion,
  declaredMaxDuration,
  expressionProblems,
  hobbyFindings,
  jobOfPath,
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
