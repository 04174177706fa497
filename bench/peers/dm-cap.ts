import type postgres from 'postgres';

/**
 * What both peers need to run the DM job: the accounts (time zone, daily cap), and per peer its own record of sends and
 * a usage counter per account and local day. The engine keeps all of this in dm_queue and accounts; a user of pg-boss
 * or graphile-worker has to write it next to the queue, so the bench writes it the plain way once, for both.
 *
 * The cap is checked and counted in ONE statement (its own transaction) before the send:
 *   - INSERT … ON CONFLICT (account_id, day) DO UPDATE … WHERE used < cap locks the counter row and re-checks the
 *     latest committed version, so two workers racing on one account cannot both take the last slot;
 *   - the send is recorded (dm_id primary key) in the same statement, so a job that is retried after a crash finds
 *     its record and is not sent again: at most once, as the engine's 'sending' state is.
 * The day is the account's local calendar day: (now() at time zone tz)::date.
 */

/** Accounts of the DM job, as many as the engine's; every 10th has a cap (5 a day) below its share of the DMs. */
export const PEER_ACCOUNTS = 200;
export const LOW_CAP = 5;
export const HIGH_CAP = 1000;
/** Zones the accounts cycle through (the engine's accounts get the same list). */
export const ZONES = [
  'UTC',
  'America/New_York',
  'Europe/Berlin',
  'Asia/Kolkata',
  'Pacific/Auckland',
  'Atlantic/Azores',
];

/** The cap of the g-th account (1-based), for the engine and the peers alike. */
export const capSql = (g: string) => `case when ${g} % 10 = 0 then ${LOW_CAP} else ${HIGH_CAP} end`;
export const zoneSql = (g: string) => `(array[${ZONES.map((z) => `'${z}'`).join(',')}])[1 + ${g} % ${ZONES.length}]`;

export async function setupPeerAccounts(sql: postgres.Sql): Promise<void> {
  await sql.unsafe(`
    create table if not exists peer_accounts (id integer primary key, tz text not null, cap integer not null);
    insert into peer_accounts (id, tz, cap)
    select g, ${zoneSql('g')}, ${capSql('g')} from generate_series(1, ${PEER_ACCOUNTS}) g
    on conflict (id) do nothing;
  `);
}

/** The peer's own tables: `<prefix>_sends` (one row per DM sent) and `<prefix>_usage` (the counter). */
export async function setupPeerRecord(sql: postgres.Sql, prefix: string): Promise<void> {
  await sql.unsafe(`
    create table ${prefix}_sends (dm_id bigint primary key, account_id integer not null, sent_at timestamptz not null);
    create table ${prefix}_usage (account_id integer not null, day date not null, used integer not null,
                                  primary key (account_id, day));
  `);
}

export async function resetPeerRecord(sql: postgres.Sql, prefix: string): Promise<void> {
  await sql.unsafe(`truncate ${prefix}_sends, ${prefix}_usage`);
}

/**
 * $1 dm id, $2 account id. Returns one row: sent (1 when this call took a slot and recorded the send: go ahead and
 * send), already (the DM was recorded by an earlier attempt: do not send again), resume_at (the account's next local
 * midnight: when a DM over the cap may be tried again).
 */
export function capStatement(prefix: string): string {
  return `
    with a as (
      select id, tz, cap, (now() at time zone tz)::date as day from peer_accounts where id = $2
    ),
    prior as (select exists (select 1 from ${prefix}_sends where dm_id = $1) as already),
    u as (
      insert into ${prefix}_usage as u (account_id, day, used)
      select a.id, a.day, 1 from a, prior where a.cap > 0 and not prior.already
      on conflict (account_id, day) do update set used = u.used + 1
       where u.used < (select p.cap from peer_accounts p where p.id = u.account_id)
      returning u.account_id
    ),
    s as (
      insert into ${prefix}_sends (dm_id, account_id, sent_at) select $1, u.account_id, now() from u returning dm_id
    )
    select (select count(*) from s)::int as sent, prior.already,
           ((a.day + 1)::timestamp at time zone a.tz) as resume_at
      from a, prior`;
}

export interface CapDecision {
  sent: number;
  already: boolean;
  resume_at: Date;
}

/** Cap breaches in a peer's own record: (account, local day) pairs with more sends than the account's cap. */
export async function peerCapBreaches(sql: postgres.Sql, prefix: string): Promise<{ breaches: number; sent: number }> {
  const [row] = await sql.unsafe<{ breaches: number; sent: number }[]>(`
    select (select count(*) from (
              select s.account_id, (s.sent_at at time zone a.tz)::date as day
                from ${prefix}_sends s join peer_accounts a on a.id = s.account_id
               group by 1, 2, a.cap having count(*) > a.cap) b)::int as breaches,
           (select count(*) from ${prefix}_sends)::int as sent`);
  return row ?? { breaches: -1, sent: -1 };
}

/** How many of n DMs (dm g goes to account 1 + g % PEER_ACCOUNTS) fit under today's caps. */
export function expectedSends(n: number): number {
  let total = 0;
  for (let acc = 1; acc <= PEER_ACCOUNTS; acc++) {
    let count = 0;
    for (let g = 1; g <= n; g++) if (1 + (g % PEER_ACCOUNTS) === acc) count++;
    total += Math.min(count, acc % 10 === 0 ? LOW_CAP : HIGH_CAP);
  }
  return total;
}
