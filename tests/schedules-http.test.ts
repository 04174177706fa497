import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Db } from '../lib/db/types.ts';
import { freshDb, SERVER_URL, sql } from './helpers/db.ts';
import { insertAccount, insertDms } from './helpers/fixtures.ts';
import { type NextServer, startNextServer } from './helpers/next-server.ts';

// One occurrence delivered ten times at once over real HTTP (next dev), on the PostgreSQL server when there is one
// (real concurrency), else on the embedded database; and the same routes called by other clocks.
const SECRET = 'schedules-http-cron-secret-0123';

describe(`duplicate deliveries over HTTP [${SERVER_URL ? 'postgres' : 'pglite'}]`, () => {
  let app: NextServer;
  let db: Db | undefined;
  let dispose: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    const env: Record<string, string> = { CRON_SECRET: SECRET, SEED_DEMO: '0' };
    if (SERVER_URL) {
      const fresh = await freshDb('postgres');
      db = fresh.db;
      dispose = fresh.dispose;
      env.DATABASE_URL = fresh.url!;
      const account = await insertAccount(db, { dm_daily_limit: 100 });
      await insertDms(db, account, 8);
    }
    app = await startNextServer({ env });
  }, 400_000);
  afterAll(async () => {
    await app?.stop();
    await dispose?.();
  }, 60_000);

  const get = (headers: Record<string, string>) =>
    fetch(`${app.url}/api/cron/dm-queue`, { headers: { authorization: `Bearer ${SECRET}`, ...headers } });

  test('10 identical Vercel deliveries of one slot: one run, nine 200 duplicate_delivery naming it', async () => {
    const vercel = { 'user-agent': 'vercel-cron/1.0', 'x-vercel-cron-schedule': '*/15 * * * *' };
    // The first request compiles the route: do it outside the race, as a manual call (never deduplicated).
    expect((await get({})).status).toBe(200);
    // Ten calls take a moment: keep them off a slot boundary (the route counts a call up to 10 s early for its slot).
    const phase = (Date.now() + 10_000) % (15 * 60_000);
    if (phase < 3_000 || phase > 15 * 60_000 - 3_000) await new Promise((r) => setTimeout(r, 6_000));
    const responses = await Promise.all(Array.from({ length: 10 }, () => get(vercel)));
    expect(responses.map((r) => r.status)).toEqual(Array(10).fill(200));
    const bodies = (await Promise.all(responses.map((r) => r.json()))) as Record<string, unknown>[];
    const worked = bodies.filter((b) => b.reason !== 'duplicate_delivery');
    expect(worked).toHaveLength(1);
    expect(worked[0]).toMatchObject({
      trigger: 'cron',
      status: 'ok',
      executionId: expect.stringMatching(/^vercel:UTC:/),
    });
    const dupes = bodies.filter((b) => b.reason === 'duplicate_delivery');
    expect(dupes).toHaveLength(9);
    for (const d of dupes) expect(d).toMatchObject({ status: 'skipped', runId: worked[0]!.runId, claimed: 0 });
    if (db) {
      const runs = await sql<{ trigger: string; n: number }>(
        db,
        "select trigger, count(*)::int as n from job_runs where job = 'dm-queue' group by trigger order by trigger",
      );
      expect(runs).toEqual([
        { trigger: 'cron', n: 1 },
        { trigger: 'manual', n: 1 },
      ]);
    }
  });

  test('another clock: a plain GET with the bearer and a scheduler header runs as external', async () => {
    const cloud = {
      'user-agent': 'Google-Cloud-Scheduler',
      'x-cloudscheduler-jobname': 'dm-queue',
      'x-cloudscheduler-scheduletime': new Date(Date.now() - 2_000).toISOString(),
    };
    const first = await get(cloud);
    expect(first.status).toBe(200);
    expect(await first.json()).toMatchObject({ trigger: 'external', status: 'ok' });
    expect(await (await get(cloud)).json()).toMatchObject({ status: 'skipped', reason: 'duplicate_delivery' });
    const supabase = await get({ 'user-agent': 'pg_net/0.19.5' });
    expect(await supabase.json()).toMatchObject({ trigger: 'external', status: 'ok' });
    const github = await get({ 'x-github-run-id': '9876543210' });
    expect(await github.json()).toMatchObject({ trigger: 'external', status: 'ok' });
    expect((await get({ 'x-github-run-id': '9876543210' })).status).toBe(200); // not deduplicated: a new workflow run
    const refused = await fetch(`${app.url}/api/cron/dm-queue`, { headers: { 'user-agent': 'pg_net/0.19.5' } });
    expect(refused.status).toBe(401); // a scheduler header is no credential
  });
});
