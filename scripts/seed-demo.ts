import { pgliteDir, resolveDbConfig } from '../lib/db/index.ts';
import { migrate } from '../lib/db/migrate.ts';
import { openPersistentPglite } from '../lib/db/pglite.ts';
import type { Db } from '../lib/db/types.ts';
import { log } from '../lib/log.ts';

/**
 * The demo data of `npm run dev`: a development concern, so it lives with the dev entry point and not in the database
 * port (lib/db only opens and migrates).
 *
 * A small realistic world for the embedded database, so the dashboard shows movement within a minute of `npm run dev`:
 * five accounts with different caps and time zones (one disconnected), DMs due now and spread over the day (a few to
 * recipients the sandbox rejects or answers flakily), scheduled posts, and 14 days of history.
 * Recipient prefixes drive the sandbox provider: invalid… fails, flaky… fails once then succeeds.
 */
const SEED_SQL = `
insert into accounts (id, name, timezone, status, status_reason, dm_daily_limit, unipile_account_id) values
  ('a0000000-0000-4000-8000-000000000001', 'Ada (London)',     'Europe/London',    'active', null, 25, 'sandbox-ada'),
  ('a0000000-0000-4000-8000-000000000002', 'Grace (New York)', 'America/New_York', 'active', null, 15, 'sandbox-grace'),
  ('a0000000-0000-4000-8000-000000000003', 'Linus (Helsinki)', 'Europe/Helsinki',  'active', null, 40, 'sandbox-linus'),
  ('a0000000-0000-4000-8000-000000000004', 'Yuki (Tokyo)',     'Asia/Tokyo',       'active', null, 10, 'sandbox-yuki'),
  ('a0000000-0000-4000-8000-000000000005', 'Sam (Sydney)',     'Australia/Sydney', 'disconnected', 'errors/disconnected_account: reconnect in Unipile', 25, 'disconnected-sam');

-- Pacing on one account: one DM every 2 minutes (plus up to 30 s jitter).
update accounts set dm_min_interval_seconds = 120, dm_jitter_seconds = 30 where id = 'a0000000-0000-4000-8000-000000000003';

-- Due now: 12 per active account, two of them to recipients the provider refuses, one flaky.
insert into dm_queue (account_id, recipient_id, body, send_at)
select a.id,
       case when g in (3, 9) then 'invalid-' || g when g = 5 then 'flaky-' || a.name || g else 'ACoAA' || md5(a.id::text || g) end,
       'Hi! Thanks for connecting. (demo message ' || g || ')',
       now() - make_interval(mins => 20 - g)
  from accounts a, generate_series(1, 12) g
 where a.status = 'active';

-- Spread over the next 8 hours.
insert into dm_queue (account_id, recipient_id, body, send_at)
select a.id, 'ACoAB' || md5(a.id::text || g), 'Following up on my last note (demo ' || g || ')', now() + make_interval(mins => g * 20)
  from accounts a, generate_series(1, 24) g;

-- Scheduled posts: two due now, the rest through the week; one draft, one that the sandbox refuses (#fail).
insert into posts (account_id, content, scheduled_for, status)
select a.id, 'Demo post ' || g || ' from ' || a.name || case when g = 4 then ' #fail' else '' end,
       now() + make_interval(hours => (g - 2) * 12), 'scheduled'
  from accounts a, generate_series(1, 6) g where a.status = 'active';
insert into posts (account_id, content, status) values ('a0000000-0000-4000-8000-000000000001', 'A draft nobody scheduled yet', 'draft');

-- 14 days of history: sent and failed DMs, published posts.
insert into dm_queue (account_id, recipient_id, body, send_at, status, attempts, attempted_at, sent_at, provider_message_id)
select a.id, 'ACoAH' || md5(a.id::text || d || g), 'Earlier message (demo)',
       now() - make_interval(days => d, hours => g % 9), 'sent', 1,
       now() - make_interval(days => d, hours => g % 9), now() - make_interval(days => d, hours => g % 9), 'sandbox_hist_' || d || '_' || g
  from accounts a, generate_series(1, 14) d, generate_series(1, 8 + (d % 5)) g;
insert into dm_queue (account_id, recipient_id, body, send_at, status, attempts, attempted_at, failed_at, last_error)
select a.id, 'invalid-hist-' || d, 'Earlier message (demo)', now() - make_interval(days => d), 'failed', 1,
       now() - make_interval(days => d), now() - make_interval(days => d), 'errors/invalid_recipient: demo history'
  from accounts a, generate_series(1, 14) d where d % 3 = 0;
insert into posts (account_id, content, scheduled_for, status, attempts, published_at, provider_post_id)
select a.id, 'Earlier post (demo)', now() - make_interval(days => d), 'published', 1, now() - make_interval(days => d), 'sandbox_post_hist_' || d
  from accounts a, generate_series(1, 14) d where d % 2 = 0;

-- Connection invitations: a weekly cap of 20 (Yuki: 5, so the cap is reached this week); 8 due now per active
-- account (one to a member already invited, which the sandbox refuses), and 3 sent in the last hours (imported history).
update accounts set invite_weekly_limit = case when id = 'a0000000-0000-4000-8000-000000000004' then 5 else 20 end;
insert into invitations (account_id, recipient_id, message, send_at)
select a.id, case when g = 4 then 'pending-' || g else 'ACoAI' || md5(a.id::text || g) end,
       case when g % 2 = 0 then null else 'Hi! I enjoyed your post on outreach. (demo ' || g || ')' end,
       now() - make_interval(mins => 10 - g)
  from accounts a, generate_series(1, 8) g where a.status = 'active';
insert into invitations (account_id, recipient_id, status, sent_at, provider_invitation_id)
select a.id, 'ACoAJ' || md5(a.id::text || g), 'sent', now() - make_interval(hours => g), 'sandbox_inv_hist_' || g
  from accounts a, generate_series(1, 3) g;
`;

/** Seeds the demo world into a database with no accounts yet; false (and nothing written) when it has some. */
export async function seedDemoIfEmpty(db: Db): Promise<boolean> {
  if (!db.query || !db.exec) return false;
  const [row] = await db.query<{ n: number }>('select count(*)::int as n from accounts');
  if ((row?.n ?? 0) > 0) return false;
  await db.exec(`begin; ${SEED_SQL} commit;`);
  log('info', 'demo data seeded', { accounts: 5 });
  return true;
}

export interface DemoDatabase {
  dir: string;
  applied: string[];
  seeded: boolean;
}

/**
 * What `npm run dev` does before it starts `next dev`: when the environment selects the embedded database, open its
 * directory, migrate it, seed the demo data if it is empty (unless SEED_DEMO=0), and close it again. PGlite allows
 * one process per directory and the lock file records the owner's pid, so it must be closed (the lock released)
 * before the server opens it. Null for DATABASE_URL or SUPABASE_URL: a real database is never seeded.
 */
export async function prepareDemoDatabase(env: NodeJS.ProcessEnv = process.env): Promise<DemoDatabase | null> {
  if (resolveDbConfig(env).transport !== 'pglite') return null;
  const dir = pgliteDir(env);
  const db = await openPersistentPglite(dir);
  try {
    const { applied } = await migrate(db);
    const seeded = env.SEED_DEMO !== '0' && (await seedDemoIfEmpty(db));
    return { dir, applied, seeded };
  } finally {
    await db.close();
  }
}
