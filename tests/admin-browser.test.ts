import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { adminAccess, basicPassword, checkAdminAuthorization } from '../lib/admin/auth.ts';
import { adminOverview, recentRuns, resolveItem } from '../lib/admin/queries.ts';
import { adminContentSecurityPolicy } from '../lib/admin/security-headers.ts';
import { admitAdminRequest, LoginThrottle } from '../lib/admin/throttle.ts';
import { schedules } from '../lib/schedules.ts';
import { forEachEngine, sql } from './helpers/db.ts';
import { insertAccount, insertDms } from './helpers/fixtures.ts';
import { type NextServer, startNextServer } from './helpers/next-server.ts';

const basic = (password: string, user = 'admin') => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const env = (vars: Record<string, string>) => ({ ...process.env, ADMIN_PASSWORD: undefined, ...vars });

describe('admin door', () => {
  test.each([
    ['password set', { ADMIN_PASSWORD: 'pw', NODE_ENV: 'production' }, 'password'],
    ['production without one', { NODE_ENV: 'production' }, 'disabled'],
    ['development without one', { NODE_ENV: 'development' }, 'open'],
    ['tests without one', { NODE_ENV: 'test' }, 'disabled'],
    ['empty password in production', { ADMIN_PASSWORD: '', NODE_ENV: 'production' }, 'disabled'],
  ] as const)('%s → %s', (_case, vars, mode) => {
    expect(adminAccess(env(vars)).mode).toBe(mode);
  });

  test.each([
    ['right password, any user', basic('s3cret', 'whoever'), { ok: true, open: false }],
    ['right password, empty user', basic('s3cret', ''), { ok: true, open: false }],
    ['password with a colon', null, { ok: false, status: 401 }],
    ['wrong password', basic('s3cret!'), { ok: false, status: 401 }],
    ['prefix of the password', basic('s3cre'), { ok: false, status: 401 }],
    ['no header', null, { ok: false, status: 401 }],
    ['Bearer instead of Basic', 'Bearer s3cret', { ok: false, status: 401 }],
    ['not base64', 'Basic %%%', { ok: false, status: 401 }],
    ['no colon', `Basic ${Buffer.from('s3cret').toString('base64')}`, { ok: false, status: 401 }],
  ])('%s', (_case, header, expected) => {
    expect(checkAdminAuthorization(header, env({ ADMIN_PASSWORD: 's3cret', NODE_ENV: 'production' }))).toEqual(
      expected,
    );
  });

  test('the password is everything after the first colon', () => {
    expect(basicPassword(basic('a:b:c', 'u'))).toBe('a:b:c');
    expect(checkAdminAuthorization(basic('a:b', 'u'), env({ ADMIN_PASSWORD: 'a:b', NODE_ENV: 'production' }))).toEqual({
      ok: true,
      open: false,
    });
  });

  test('disabled in production without ADMIN_PASSWORD, whatever the request says', () => {
    expect(checkAdminAuthorization(basic(''), env({ NODE_ENV: 'production' }))).toEqual({ ok: false, status: 404 });
  });

  test('wrong passwords are slowed down per address, with growing, capped penalties; success clears them', () => {
    let now = 0;
    const t = new LoginThrottle({ freeFailures: 2, baseMs: 500, maxStepMs: 4_000 }, () => now);
    const steps = Array.from({ length: 7 }, () => t.failure('1.2.3.4'));
    expect(steps).toEqual([0, 0, 500, 1000, 2000, 4000, 4000]);
    expect(t.waitMs('1.2.3.4')).toBe(11_500);
    expect(t.waitMs('5.6.7.8')).toBe(0);
    now += 2_000;
    expect(t.waitMs('1.2.3.4')).toBe(9_500);
    t.success('1.2.3.4');
    expect(t.waitMs('1.2.3.4')).toBe(0);
  });

  test('an address is forgotten after a quiet period, and memory stays bounded', () => {
    let now = 0;
    const t = new LoginThrottle({ freeFailures: 0, forgetAfterMs: 60_000, maxEntries: 3 }, () => now);
    t.failure('a');
    now += 61_000;
    expect(t.waitMs('a')).toBe(0);
    for (const k of ['b', 'c', 'd', 'e']) t.failure(k);
    expect(t.waitMs('b')).toBe(0); // evicted: the oldest of four
    expect(t.waitMs('e')).toBeGreaterThan(0);
  });

  test('admitAdminRequest waits out the penalty, refuses with 429 beyond maxWaitMs, and ignores challenge requests', async () => {
    let now = 0;
    const waits: number[] = [];
    const t = new LoginThrottle({ freeFailures: 1, baseMs: 10_000, maxStepMs: 20_000, maxWaitMs: 25_000 }, () => now);
    const vars = env({ ADMIN_PASSWORD: 'pw', NODE_ENV: 'production', VERCEL: '1' });
    const request = (authorization?: string) =>
      admitAdminRequest(
        new Headers({ 'x-forwarded-for': '9.9.9.9, 10.0.0.1', ...(authorization ? { authorization } : {}) }),
        t,
        vars,
        async (ms) => {
          waits.push(ms);
        },
      );
    expect(await request()).toEqual({ ok: false, status: 401 }); // the browser asking, not a guess
    expect(await request(basic('nope'))).toEqual({ ok: false, status: 401 }); // free
    expect(await request(basic('nope'))).toEqual({ ok: false, status: 401 }); // owes 10 s from now on
    expect(await request(basic('nope'))).toEqual({ ok: false, status: 401 }); // waited 10 s; now owes 30 s
    expect(waits).toEqual([10_000]);
    expect(t.waitMs('9.9.9.9')).toBeGreaterThan(0); // the guesses were counted against the client's own address
    expect(await request(basic('pw'))).toEqual({ ok: false, status: 429, retryAfterSec: 30 }); // not even checked
    now += 10_000;
    expect(await request(basic('pw'))).toEqual({ ok: true, open: false }); // waits the 20 s left, then is let in
    expect(waits).toEqual([10_000, 20_000]);
    // On Vercel the first x-forwarded-for hop is the client: its bucket, emptied by the login.
    expect(t.waitMs('9.9.9.9')).toBe(0);
    expect(t.waitMs('untrusted')).toBe(0);
  });

  test("the CSP allows this origin's scripts and the nonce only; eval only in development", () => {
    const prod = adminContentSecurityPolicy('abc', false);
    expect(prod).toContain("script-src 'self' 'nonce-abc'");
    expect(prod).not.toContain('unsafe-eval');
    expect(prod).toContain("frame-ancestors 'none'");
    expect(prod).not.toMatch(/script-src[^;]*unsafe-inline/);
    expect(adminContentSecurityPolicy('abc', true)).toContain("'unsafe-eval'");
  });
});

const NOW = new Date('2026-03-10T12:00:00Z');

forEachEngine('admin SQL functions', (ctx) => {
  let utcAccount: string;
  let kiritimati: string;
  beforeAll(async () => {
    utcAccount = await insertAccount(ctx.db, { name: 'A utc', dm_daily_limit: 10 });
    // UTC+14: at 12:00 UTC it is already 02:00 on the next day there.
    kiritimati = await insertAccount(ctx.db, {
      name: 'B kiritimati',
      timezone: 'Pacific/Kiritimati',
      dm_daily_limit: 5,
    });
  });

  test('overview: queue depth, usage in each account’s own day, uncertain first, 14 days live or rolled up', async () => {
    const [uncertain] = await insertDms(ctx.db, utcAccount, 1, {
      status: 'uncertain',
      attempted_at: new Date('2026-03-10T11:00:00Z'),
    });
    await insertDms(ctx.db, utcAccount, 2, {
      status: 'sent',
      sent_at: new Date('2026-03-10T01:00:00Z'),
      attempted_at: new Date('2026-03-10T01:00:00Z'),
    });
    // 11:00 UTC on the 10th is the 11th in Kiritimati from 10:00 UTC on: counts today there, not for the UTC account.
    await insertDms(ctx.db, kiritimati, 3, {
      status: 'sent',
      sent_at: new Date('2026-03-10T11:00:00Z'),
      attempted_at: new Date('2026-03-10T11:00:00Z'),
    });
    await insertDms(ctx.db, kiritimati, 1, {
      status: 'sent',
      sent_at: new Date('2026-03-10T09:00:00Z'),
      attempted_at: new Date('2026-03-10T09:00:00Z'),
    });
    await insertDms(ctx.db, utcAccount, 4, { send_at: new Date('2026-03-10T11:00:00Z') });
    await insertDms(ctx.db, utcAccount, 2, { send_at: new Date('2026-03-11T11:00:00Z') });
    const [failed] = await insertDms(ctx.db, utcAccount, 1, { status: 'failed' });
    await sql(ctx.db, "update dm_queue set failed_at = '2026-03-09T10:00:00Z', last_error = 'x' where id = $1", [
      failed,
    ]);
    await sql(
      ctx.db,
      "insert into daily_platform_stats (day, dms_sent, dms_failed, posts_published) values ('2026-03-05', 70, 7, 3)",
    );

    const o = await adminOverview(ctx.db, { jobs: ['dm-queue', 'analytics'], now: NOW });
    expect(o.jobs.map((j) => j.job)).toEqual(['dm-queue', 'analytics']);
    expect(o.queues.map((q) => q.queue)).toEqual(['dm', 'post', 'invitation']);
    expect(o.queues[0]).toEqual({
      queue: 'dm',
      table: 'dm_queue',
      waitingStatus: 'pending',
      activeStatus: 'sending',
      doneStatus: 'sent',
      capPeriod: 'day',
      due: 4,
      waiting: 6,
      active: 0,
      uncertain: 1,
      failed: 1,
      done24h: 6,
    });
    const usage = Object.fromEntries(
      o.accounts.map((a) => {
        const dm = a.usage.find((u) => u.queue === 'dm')!;
        return [a.name, [a.localDay, dm.localPeriodStart, dm.used, dm.limit]];
      }),
    );
    expect(usage).toEqual({
      'A utc': ['2026-03-10', '2026-03-10', 3, 10],
      'B kiritimati': ['2026-03-11', '2026-03-11', 3, 5],
    });
    // Posts have no cap: no usage entry; DMs per day, invitations per week (2026-03-10 is a Tuesday).
    expect(o.accounts[0]!.usage.map((u) => [u.queue, u.period, u.localPeriodStart])).toEqual([
      ['dm', 'day', '2026-03-10'],
      ['invitation', 'week', '2026-03-09'],
    ]);
    expect(o.problems.map((p) => [p.kind, p.id, p.status])).toEqual([
      ['dm', uncertain, 'uncertain'],
      ['dm', failed, 'failed'],
    ]);
    expect(o.problems[0]).toMatchObject({ target: 'r-1', preview: 'hello 1', account: 'A utc' });
    expect(o.daily).toHaveLength(14);
    expect(o.daily[0]!.day).toBe('2026-02-25');
    expect(o.daily.at(-1)).toEqual({ day: '2026-03-10', source: 'live', dmsSent: 6, dmsFailed: 0, postsPublished: 0 });
    expect(o.daily.find((d) => d.day === '2026-03-09')).toMatchObject({ source: 'live', dmsFailed: 1 });
    expect(o.daily.find((d) => d.day === '2026-03-05')).toEqual({
      day: '2026-03-05',
      source: 'rollup',
      dmsSent: 70,
      dmsFailed: 7,
      postsPublished: 3,
    });
  });

  test('retry, cancel and mark sent move only the statuses they are meant for', async () => {
    const [failed, uncertain, pending, sending] = [
      ...(await insertDms(ctx.db, utcAccount, 1, { status: 'failed' })),
      ...(await insertDms(ctx.db, utcAccount, 1, {
        status: 'uncertain',
        attempted_at: new Date('2026-03-10T08:00:00Z'),
      })),
      ...(await insertDms(ctx.db, utcAccount, 1)),
      ...(await insertDms(ctx.db, utcAccount, 1, { status: 'sending' })),
    ];
    await sql(
      ctx.db,
      "update dm_queue set attempts = 5, next_attempt_at = now(), last_error = 'gave up' where id = $1",
      [failed],
    );
    const dm = (id: string | undefined) => ({ kind: 'dm' as const, id: id! });

    expect(await resolveItem(ctx.db, 'retry', dm(failed), NOW)).toEqual({ ok: true, status: 'pending' });
    const [retried] = await sql(
      ctx.db,
      'select status, attempts, next_attempt_at, last_error from dm_queue where id = $1',
      [failed],
    );
    expect(retried).toMatchObject({ status: 'pending', attempts: 0, next_attempt_at: null });
    expect(retried!.last_error).toMatch(/^retried by the operator at 2026-03-10T12:00:00Z; before: gave up$/);
    expect(await resolveItem(ctx.db, 'retry', dm(pending), NOW)).toEqual({
      ok: false,
      reason: 'only a failed or uncertain item can be retried (it is pending)',
    });

    expect(await resolveItem(ctx.db, 'mark-sent', dm(uncertain), NOW)).toEqual({ ok: true, status: 'sent' });
    const [sent] = await sql(ctx.db, 'select status, sent_at from dm_queue where id = $1', [uncertain]);
    expect(new Date(sent!.sent_at as string).toISOString()).toBe('2026-03-10T08:00:00.000Z');

    expect(await resolveItem(ctx.db, 'cancel', dm(pending), NOW)).toEqual({ ok: true, status: 'cancelled' });
    expect(await resolveItem(ctx.db, 'cancel', dm(sending), NOW)).toMatchObject({ ok: false });
    expect(await resolveItem(ctx.db, 'cancel', dm('00000000-0000-4000-8000-000000000000'), NOW)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/gone/),
    });
    const [status] = await sql(ctx.db, 'select status from dm_queue where id = $1', [sending]);
    expect(status).toEqual({ status: 'sending' });
  });

  test('posts: retry reschedules (a post without a time gets now), mark published uses the attempt time', async () => {
    const rows = await sql<{ id: string }>(
      ctx.db,
      `insert into posts (account_id, content, scheduled_for, status, attempted_at) values
         ($1, 'a', null, 'failed', null), ($1, 'b', '2026-03-09T00:00:00Z', 'uncertain', '2026-03-09T00:00:05Z')
       returning id`,
      [utcAccount],
    );
    const [a, b] = rows.map((r) => ({ kind: 'post' as const, id: r.id }));
    expect(await resolveItem(ctx.db, 'retry', a!, NOW)).toEqual({ ok: true, status: 'scheduled' });
    expect(await resolveItem(ctx.db, 'mark-sent', b!, NOW)).toEqual({ ok: true, status: 'published' });
    const got = await sql(
      ctx.db,
      'select content, scheduled_for, published_at from posts where id = any($1) order by content',
      [rows.map((r) => r.id)],
    );
    expect(got.map((r) => [r.content, r.scheduled_for && new Date(r.scheduled_for as string).toISOString()])).toEqual([
      ['a', NOW.toISOString()],
      ['b', '2026-03-09T00:00:00.000Z'],
    ]);
    expect(new Date(got[1]!.published_at as string).toISOString()).toBe('2026-03-09T00:00:05.000Z');
  });

  test('recent runs: newest first, filtered by job and status, limited', async () => {
    await sql(
      ctx.db,
      `insert into job_runs (job, trigger, status, started_at, summary) values
         ('dm-queue', 'cron', 'ok', '2026-03-10T10:00:00Z', null),
         ('dm-queue', 'manual', 'skipped', '2026-03-10T11:00:00Z', '{"reason":"paused"}'),
         ('analytics', 'cron', 'error', '2026-03-10T11:30:00Z', null)`,
    );
    expect((await recentRuns(ctx.db)).map((r) => r.status)).toEqual(['error', 'skipped', 'ok']);
    expect((await recentRuns(ctx.db, { job: 'dm-queue' })).map((r) => r.status)).toEqual(['skipped', 'ok']);
    const [skipped] = await recentRuns(ctx.db, { job: 'dm-queue', status: 'skipped' });
    expect(skipped).toMatchObject({ trigger: 'manual', reason: 'paused' });
    expect(await recentRuns(ctx.db, { limit: 1 })).toHaveLength(1);
  });

  test('unknown kinds are refused', async () => {
    expect(
      await resolveItem(ctx.db, 'retry', { kind: 'sms', id: '00000000-0000-4000-8000-000000000000' }, NOW),
    ).toEqual({ ok: false, reason: 'unknown kind sms' });
  });
});

// ——— The real app in a real browser ————————————————————————————————————————————————————————————————————————————

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = fs.existsSync(CHROMIUM);
if (!hasChromium) {
  const why = `${CHROMIUM} is missing: the browser test of /admin is skipped. Install it with: apt-get update && apt-get install -y chromium`;
  if (process.env.CI) throw new Error(`${why} (CI must run it)`);
  console.warn(`[tests] ${why}`);
}

const SECRET = 'browser-test-cron-secret-0123456789';
const PASSWORD = 'browser-test-admin-password';
const LAUNCH_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--no-first-run',
];

describe.skipIf(!hasChromium)('/admin in a browser', () => {
  let app: NextServer;
  let browser: BrowserContext;
  let page: Page;
  const profiles: string[] = [];
  const cspViolations: string[] = [];

  async function launch(password: string): Promise<BrowserContext> {
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'admin-browser-profile-'));
    profiles.push(profile);
    return chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      args: LAUNCH_ARGS,
      viewport: { width: 1280, height: 1600 },
      httpCredentials: { username: 'admin', password },
    });
  }

  const cron = (job: string) =>
    fetch(`${app.url}/api/cron/${job}`, { headers: { authorization: `Bearer ${SECRET}` } }).then(async (r) => ({
      status: r.status,
      body: await r.json(),
    }));

  beforeAll(async () => {
    app = await startNextServer({
      env: { CRON_SECRET: SECRET, ADMIN_PASSWORD: PASSWORD, SEED_DEMO: '1', SANDBOX_LATENCY_MS: '20' },
    });
    // Compile the page before the browser's first visit: next dev compiles on the first request, slowly.
    await fetch(`${app.url}/admin`, { headers: { authorization: basic(PASSWORD) } });
    browser = await launch(PASSWORD);
    browser.setDefaultTimeout(30_000);
    browser.setDefaultNavigationTimeout(120_000);
    page = await browser.newPage();
    page.on('console', (m) => {
      if (/Content Security Policy|Content-Security-Policy/i.test(m.text())) cspViolations.push(m.text());
    });
  }, 400_000);

  afterAll(async () => {
    await browser?.close();
    await app?.stop();
    for (const p of profiles) fs.rmSync(p, { recursive: true, force: true });
  }, 60_000);

  test('a wrong password gets 401 with a Basic challenge; no password gets the challenge too', async () => {
    const wrong = await launch('not-the-password');
    try {
      const res = await (await wrong.newPage()).goto(`${app.url}/admin`);
      expect(res?.status()).toBe(401);
    } finally {
      await wrong.close();
    }
    const bare = await fetch(`${app.url}/admin`);
    expect(bare.status).toBe(401);
    expect(bare.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    expect(bare.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
  });

  test('logs in and shows every schedule of vercel.json, with the security headers and no CSP violation', async () => {
    const res = await page.goto(`${app.url}/admin`, { waitUntil: 'load' });
    expect(res?.status()).toBe(200);
    // The refresh checkbox is enabled once React has hydrated the page: only then do the buttons call their actions.
    await expect
      .poll(() => page.getByRole('checkbox', { name: /refresh every/ }).isEnabled(), { timeout: 60_000 })
      .toBe(true);
    const headers = res!.headers();
    expect(headers['content-security-policy']).toMatch(/script-src 'self' 'nonce-[^']+'/);
    expect(headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(headers['referrer-policy']).toBe('no-referrer');
    expect(headers['x-content-type-options']).toBe('nosniff');
    for (const s of schedules()) {
      const row = page.locator(`tr[data-job="${s.job}"]`).first();
      await expect.poll(() => row.textContent(), { timeout: 15_000 }).toContain(s.schedule);
    }
    await expect
      .poll(() => page.getByRole('heading', { name: /Needs attention/ }).count(), { timeout: 15_000 })
      .toBe(1);
    // Every account-keyed queue, with no admin code of its own: a depth row each, a usage column per capped queue.
    expect(
      await page.locator('tr[data-queue]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-queue'))),
    ).toEqual(['dm', 'post', 'invitation']);
    expect(await page.locator('th[data-queue="dm"]').textContent()).toBe('DMs today');
    // The heading, then (when every account listed is in the same week) the week's start on a line of its own.
    expect(await page.locator('th[data-queue="invitation"]').textContent()).toMatch(
      /^Invitations this week(from \w{3} \d{1,2} \w{3})?$/,
    );
    // What retention keeps: a row per kind with its retention (defaults: 2 days of skipped runs, 30 of others).
    expect(
      await page.locator('tr[data-retention]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-retention'))),
    ).toEqual(['skipped_runs', 'runs', 'webhook_deliveries', 'sync_jobs']);
    expect(await page.locator('tr[data-retention="runs"] td').nth(1).textContent()).toBe('30 days');
    expect(await page.getByText('/admin is open to anyone').count()).toBe(0);
    expect(cspViolations).toEqual([]);
  });

  // Issue 15 (reasons and forecast): read before any run moves the demo data.
  test('why items wait and when the backlogs clear: the reasons by count, in words, cap resets, the forecast', async () => {
    await page.goto(`${app.url}/admin`, { waitUntil: 'load' });
    const dm = page.locator('tr[data-queue="dm"]');
    await expect.poll(() => dm.locator('td.reasons [data-reason]').count(), { timeout: 30_000 }).toBeGreaterThan(1);
    // The breakdown adds up to the waiting count; the demo's disconnected account (Sam) holds its DMs.
    const chips = await dm
      .locator('td.reasons [data-reason]')
      .evaluateAll((els) =>
        els.map((e) => [e.getAttribute('data-reason'), Number(e.querySelector('strong')?.textContent)]),
      );
    const reasons = Object.fromEntries(chips);
    expect(reasons.account_disconnected).toBeGreaterThan(0);
    expect(reasons.scheduled).toBeGreaterThan(0);
    const waiting = Number(await dm.locator('td').nth(2).textContent());
    expect(chips.reduce((n, [, c]) => n + (c as number), 0)).toBe(waiting);
    // Waiting items, each with its reason in words.
    const example = page.locator('tr[data-waiting-item][data-reason="account_disconnected"]').first();
    expect(await example.textContent()).toMatch(/The account is disconnected.*reconnect in Unipile/);
    // Failed items say why in words too.
    const why = page.locator('tr[data-item] .why').first();
    expect(await why.textContent()).toMatch(/^failed: Failed: errors\/invalid_recipient/);
    // Each cap says when it resets (the account's local midnight, or Monday for invitations), as a UTC instant.
    const resets = await page.locator('td .resets').allTextContents();
    expect(resets.length).toBeGreaterThanOrEqual(8);
    for (const r of resets) expect(r).toMatch(/^resets \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC \(in \d+ (h|min|d)/);
    // The forecast: overall and per account; the disconnected account never clears.
    expect(await page.locator('[data-forecast-overall="dm"]').textContent()).toMatch(
      /^DMs: \d+ waiting, backlog does not clear within 31 days/,
    );
    const sam = page.locator('tr[data-account="a0000000-0000-4000-8000-000000000005"] [data-forecast="dm"]');
    expect(await sam.textContent()).toBe('DMs: never while the account is disconnected');
    const ada = page.locator('tr[data-account="a0000000-0000-4000-8000-000000000001"] [data-forecast="dm"]');
    expect(await ada.textContent()).toMatch(/^DMs: on \w{3} \d{1,2} \w{3} · today \d+, tomorrow \d+$/);
  });

  test('Run now for the DM queue: the new run appears with its status; its answer does not push Pause', async () => {
    const runs = page.locator('tr[data-run][data-job="dm-queue"]');
    const before = await runs.count();
    const jobRow = page.locator('tr[data-job="dm-queue"]').first();
    const runButton = page.getByRole('button', { name: 'Run dm-queue now' });
    const pauseButton = page.getByRole('button', { name: 'Pause dm-queue' });
    const cell = jobRow.locator('td.actions');
    // Where Pause sits in its cell, and the gap after Run now: other columns may resize as the row's last run
    // changes, so positions are measured from the cell's and Run now's left edges.
    const layout = async () => {
      const [c, r, p] = await Promise.all([cell.boundingBox(), runButton.boundingBox(), pauseButton.boundingBox()]);
      return { pauseInCell: p!.x - c!.x, pauseAfterRun: p!.x - r!.x, runWidth: r!.width, top: p!.y - c!.y };
    };
    const idle = await layout();
    await runButton.click();
    await expect
      .poll(() => jobRow.locator('output').textContent(), { timeout: 30_000 })
      .toMatch(/^(ok|partial): claimed \d+/);
    expect(await layout()).toEqual(idle);
    // The answer is below the buttons, within the cell's width.
    const [answer, bar, pause] = await Promise.all([
      jobRow.locator('output').boundingBox(),
      jobRow.locator('.action-bar').boundingBox(),
      pauseButton.boundingBox(),
    ]);
    expect(answer!.y).toBeGreaterThanOrEqual(pause!.y + pause!.height);
    expect(answer!.x + answer!.width).toBeLessThanOrEqual(bar!.x + bar!.width + 0.5);
    await expect.poll(() => runs.count(), { timeout: 15_000 }).toBe(before + 1);
    const newest = runs.first();
    expect(await newest.getAttribute('data-status')).toMatch(/^(ok|partial)$/);
    expect(await newest.textContent()).toContain('manual');
  });

  test("pausing a job makes its route answer 'skipped'; resuming lets it run again", async () => {
    await page.getByRole('button', { name: 'Pause post-scheduler' }).click();
    await expect
      .poll(() => page.getByRole('button', { name: 'Resume post-scheduler' }).count(), { timeout: 15_000 })
      .toBe(1);
    const paused = await cron('post-scheduler');
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({ job: 'post-scheduler', status: 'skipped', reason: 'paused', claimed: 0 });
    // The skipped run shows up in the list by itself (the page refreshes every 5 s).
    const skipped = page.locator('tr[data-run][data-job="post-scheduler"][data-status="skipped"]');
    await expect.poll(() => skipped.count(), { timeout: 15_000 }).toBeGreaterThan(0);

    await page.getByRole('button', { name: 'Resume post-scheduler' }).click();
    await expect
      .poll(() => page.getByRole('button', { name: 'Pause post-scheduler' }).count(), { timeout: 15_000 })
      .toBe(1);
    const resumed = await cron('post-scheduler');
    expect(resumed.body.status).toMatch(/^(ok|partial)$/);
  });

  test('the operator API on the real app: pause with the admin password, the page and the route follow', async () => {
    const api = (method: string, pathname: string, authorization = basic(PASSWORD)) =>
      fetch(`${app.url}${pathname}`, { method, headers: { authorization } }).then(async (r) => ({
        status: r.status,
        body: await r.json().catch(() => null),
      }));
    expect(await api('POST', '/api/jobs/invitations/pause')).toEqual({
      status: 200,
      body: { job: 'invitations', paused: true, changed: true },
    });
    // The page refreshes every 5 s: it shows the pause without a click.
    await expect
      .poll(() => page.getByRole('button', { name: 'Resume invitations' }).count(), { timeout: 15_000 })
      .toBe(1);
    expect((await cron('invitations')).body).toMatchObject({ status: 'skipped', reason: 'paused' });
    const listed = await api('GET', '/api/jobs', `Bearer ${SECRET}`);
    expect(listed.body.jobs.find((j: { job: string }) => j.job === 'invitations')).toMatchObject({
      paused: true,
      lastRun: { status: 'skipped' },
    });
    expect((await api('POST', '/api/jobs/invitations/resume', `Bearer ${SECRET}`)).body).toMatchObject({
      paused: false,
    });
    const run = await api('POST', '/api/jobs/invitations/run', `Bearer ${SECRET}`);
    expect(run.body).toMatchObject({
      job: 'invitations',
      trigger: 'manual',
      status: expect.stringMatching(/^(ok|partial)$/),
    });
    expect((await api('GET', '/api/jobs/invitations/pause')).status).toBe(405);
    expect((await api('POST', '/api/jobs/invitations/pause', 'Bearer not-the-secret-at-all')).status).toBe(401);
  });

  test('a failed item can be cancelled from the list', async () => {
    const first = page.locator('tr[data-item]').first();
    const id = await first.getAttribute('data-item');
    await first.getByRole('button', { name: 'Cancel' }).click();
    await expect.poll(() => page.locator(`tr[data-item="${id}"]`).count(), { timeout: 15_000 }).toBe(0);
  });

  // npm test must not rewrite the tracked docs/admin.png: the screenshot goes to a temp file unless
  // UPDATE_SCREENSHOTS=1 asks for the committed one to be replaced.
  test('fits a phone screen without sideways scrolling, and leaves a screenshot (docs/admin.png only with UPDATE_SCREENSHOTS=1)', async () => {
    const tracked = path.resolve(import.meta.dirname, '..', 'docs', 'admin.png');
    const update = process.env.UPDATE_SCREENSHOTS === '1';
    const before = fs.readFileSync(tracked);
    const target = update ? tracked : path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'admin-shot-')), 'admin.png');
    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.setViewportSize({ width: 1280, height: 1600 });
    expect((await cron('analytics')).status).toBe(200); // the nightly roll-up, so the chart shows both kinds of day
    await page.goto(`${app.url}/admin`, { waitUntil: 'load' });
    await expect
      .poll(() => page.getByRole('checkbox', { name: /refresh every/ }).isEnabled(), { timeout: 60_000 })
      .toBe(true);
    // Next's development badge is not part of the page.
    await page.addStyleTag({ content: 'nextjs-portal { display: none !important; }' });
    await page.screenshot({ path: target, caret: 'initial' });
    expect(fs.statSync(target).size).toBeGreaterThan(10_000);
    if (!update) expect(fs.readFileSync(tracked).equals(before)).toBe(true);
  });
});
