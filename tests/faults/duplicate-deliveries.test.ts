import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { GET as analyticsRoute } from '../../app/api/cron/analytics/route.ts';
import { GET as dmRoute } from '../../app/api/cron/dm-queue/route.ts';
import { GET as postRoute } from '../../app/api/cron/post-scheduler/route.ts';
import { GET as syncRoute } from '../../app/api/cron/sync-jobs/route.ts';
import { GET as webhooksRoute } from '../../app/api/cron/webhooks/route.ts';
import { setDb } from '../../lib/db/index.ts';
import { openPostgres } from '../../lib/db/postgres.ts';
import type { Db } from '../../lib/db/types.ts';
import { setProvider } from '../../lib/providers/index.ts';
import type { LinkedInProvider } from '../../lib/providers/types.ts';
import { freshDb, serverAvailable, sql } from '../helpers/db.ts';
import { fakeProvider } from '../helpers/fake-provider.ts';

const SECRET = 'duplicate-deliveries-secret-0123';
const CALLS = 10;

/**
 * Vercel Cron may deliver the same invocation more than once. Ten identical calls at once for every job: the DM queue
 * and the post scheduler send each item once within caps, analytics counts a day once, syncs import each page once.
 */
describe.runIf(serverAvailable('duplicate cron deliveries [postgres]'))('duplicate cron deliveries [postgres]', () => {
  let db: Db;
  let pool: Db;
  let dispose: () => Promise<void>;
  const base = fakeProvider({ latencyMs: 5 });
  const relationFetches: string[] = [];
  const provider: LinkedInProvider = {
    ...base,
    async listRelations(input) {
      relationFetches.push(`${input.accountId}:${input.cursor ?? 'start'}`);
      await new Promise((r) => setTimeout(r, 5));
      const page = input.cursor === null ? 1 : Number(input.cursor);
      return {
        items: Array.from({ length: 10 }, (_, i) => ({
          memberId: `m-${page}-${i}`,
          name: null,
          headline: null,
          publicIdentifier: null,
          connectedAt: null,
        })),
        cursor: page < 3 ? String(page + 1) : null,
      };
    },
  };

  beforeAll(async () => {
    const fresh = await freshDb('postgres');
    db = fresh.db;
    dispose = fresh.dispose;
    pool = openPostgres(fresh.url!, { max: 12 });
    await sql(
      db,
      `insert into accounts (name, dm_daily_limit, unipile_account_id) select 'dup-' || g, 25, 'acc-' || g from generate_series(1, 20) g`,
    );
    await sql(
      db,
      `insert into dm_queue (account_id, recipient_id, body) select a.id, 'r-' || g, 'dup dm ' || a.name || ' #' || g from accounts a, generate_series(1, 40) g`,
    );
    await sql(
      db,
      `insert into posts (account_id, content, scheduled_for) select a.id, 'dup post ' || a.name || ' #' || g, now() - interval '1 minute' from accounts a, generate_series(1, 3) g`,
    );
    // Yesterday's activity for analytics.
    await sql(
      db,
      `insert into dm_queue (account_id, recipient_id, body, status, attempts, attempted_at, sent_at)
       select a.id, 'h-' || g, 'history', 'sent', 1, date_trunc('day', now()) - interval '12 hours', date_trunc('day', now()) - interval '12 hours'
         from accounts a, generate_series(1, 7) g`,
    );
    await sql(
      db,
      `insert into sync_jobs (account_id, kind) select id, 'relations' from accounts order by name limit 3`,
    );
    setDb(pool);
    setProvider(provider);
    process.env.CRON_SECRET = SECRET;
  });

  afterAll(async () => {
    delete process.env.CRON_SECRET;
    setDb(undefined);
    setProvider(undefined);
    await pool?.close();
    await dispose?.();
  });

  const fire = async (route: (r: Request) => Promise<Response>, name: string) => {
    const responses = await Promise.all(
      Array.from({ length: CALLS }, () =>
        route(
          new Request(`http://localhost/api/cron/${name}`, {
            headers: { authorization: `Bearer ${SECRET}`, 'user-agent': 'vercel-cron/1.0' },
          }),
        ),
      ),
    );
    const bodies = await Promise.all(responses.map((r) => r.json() as Promise<Record<string, unknown>>));
    expect(responses.map((r) => r.status)).toEqual(Array(CALLS).fill(200));
    return bodies;
  };

  test('10 identical calls at once for every job: invariants hold, analytics counted once', async () => {
    const dm = await fire(dmRoute, 'dm-queue');
    const texts = base.sends.map((s) => s.text);
    expect(new Set(texts).size).toBe(texts.length);
    expect(texts.length).toBe(20 * 25); // every account exactly at its cap, across all ten runs together
    const perAccount = await sql<{ n: number }>(
      db,
      "select count(*)::int as n from dm_queue where status = 'sent' and body <> 'history' group by account_id",
    );
    expect(perAccount.every((r) => r.n === 25)).toBe(true);
    expect(dm.reduce((n, b) => n + (b.succeeded as number), 0)).toBe(500);

    const posts = await fire(postRoute, 'post-scheduler');
    const published = base.posts.map((p) => p.text);
    expect(new Set(published).size).toBe(published.length);
    expect(published.length).toBe(60);
    expect(posts.reduce((n, b) => n + (b.succeeded as number), 0)).toBe(60);

    const runs = await fire(analyticsRoute, 'analytics');
    expect(runs.filter((b) => b.status === 'skipped').length).toBeGreaterThanOrEqual(1);
    // Drive to completion (the first run may end partial), then compare with a direct GROUP BY.
    for (let i = 0; i < 20; i++) {
      const [r] = await fire(analyticsRoute, 'analytics');
      if (r && r.status === 'ok' && r.hasMore === false) break;
    }
    const mismatches = await sql(
      db,
      `with truth as (
         select (sent_at at time zone 'UTC')::date as day, account_id, count(*)::int as n
           from dm_queue where status = 'sent' and sent_at < date_trunc('day', now()) group by 1, 2)
       select t.*, s.dms_sent from truth t left join daily_stats s on s.day = t.day and s.account_id = t.account_id
        where s.dms_sent is distinct from t.n`,
    );
    expect(mismatches).toEqual([]);
    const [platform] = await sql<{ dms_sent: number }>(
      db,
      "select dms_sent from daily_platform_stats where day = (now() at time zone 'UTC')::date - 1",
    );
    expect(platform?.dms_sent).toBe(20 * 7);

    await fire(syncRoute, 'sync-jobs');
    for (let i = 0; i < 5; i++) await fire(syncRoute, 'sync-jobs');
    const jobs = await sql<{ status: string; items: number }>(db, 'select status, items from sync_jobs');
    expect(jobs).toHaveLength(3);
    expect(jobs.every((j) => j.status === 'completed' && j.items === 30)).toBe(true);
    expect(new Set(relationFetches).size).toBe(relationFetches.length); // no page fetched twice
    expect(relationFetches).toHaveLength(9);

    const hooks = await fire(webhooksRoute, 'webhooks');
    expect(hooks.every((b) => b.status === 'ok' || b.status === 'skipped')).toBe(true);
    console.log(
      `[duplicates] ${CALLS} calls per job: ${texts.length} DMs (0 duplicates), ${published.length} posts, analytics skipped ${runs.filter((b) => b.status === 'skipped').length}/${CALLS}, ${relationFetches.length} relation pages`,
    );
  });
});
