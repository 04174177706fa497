import type postgres from 'postgres';
import type { Outcome } from '../lib/cron/drain.ts';
import { openPostgres } from '../lib/db/postgres.ts';
import type { Db } from '../lib/db/types.ts';
import { claimDueDms, settleDms } from '../lib/dm/queries.ts';
import type { SentMessage } from '../lib/providers/types.ts';
import { createMigratedDatabase, rawSql } from './pg.ts';
import { now, percentiles, type Spread, spread } from './stats.ts';

const ACCOUNTS = 10_000;
const PENDING = 10_000;
const BATCH = 100;
const WARMUP = 20;
/** Finished DMs are spread over this many past days (none today: they must not use up today's caps). */
const HISTORY_DAYS = 100;

export interface HistoryPoint {
  history: number;
  claimP99: Spread;
  settleP99: Spread;
  claimP50: Spread;
  settleP50: Spread;
}

export interface HistoryCostResult {
  samplesPerRun: number;
  none: HistoryPoint;
  full: HistoryPoint;
  /** p99 with history ÷ p99 without, for the claim and the settle (medians over runs); the figure is the larger. */
  claimRatio: number;
  settleRatio: number;
  ratio: number;
}

/**
 * What a long history costs the hot path: claim_due_dms (batch 100, caps on) and settle_dms (all sent) p99, with
 * 10,000 pending DMs over 10,000 accounts, first with no finished DM, then with `history` finished ones (90 % sent,
 * 10 % failed) spread over the past 100 days. Each claim and its settle commit and are timed separately; the settled
 * rows are then put back to pending outside the timed window, so the pending set keeps its size.
 */
export async function benchHistoryCost(
  history: number,
  runs: number,
  samplesPerRun: number,
  progress: (line: string) => void,
): Promise<HistoryCostResult> {
  // Two databases, the same but for the history, measured in interleaved runs (so neither is always the warmer one).
  const sides = [] as {
    history: number;
    sql: postgres.Sql;
    db: Db;
    c50: number[];
    c99: number[];
    s50: number[];
    s99: number[];
  }[];
  try {
    for (const h of [0, history]) {
      const { url, db: setupDb } = await createMigratedDatabase(`history${h ? 'full' : 'none'}`);
      await setupDb.close();
      const side = {
        history: h,
        sql: rawSql(url, 1),
        db: openPostgres(url, { max: 1 }),
        c50: [],
        c99: [],
        s50: [],
        s99: [],
      };
      sides.push(side);
      await seed(side.sql, h, progress);
    }
    for (const side of sides) for (let i = 0; i < WARMUP; i++) await cycle(side.sql, side.db);
    for (let run = 1; run <= runs; run++) {
      for (const side of sides) {
        const claims: number[] = [];
        const settles: number[] = [];
        for (let i = 0; i < samplesPerRun; i++) {
          const [c, s] = await cycle(side.sql, side.db);
          claims.push(c);
          settles.push(s);
        }
        const [cp50, cp99] = percentiles(claims, [0.5, 0.99]);
        const [sp50, sp99] = percentiles(settles, [0.5, 0.99]);
        side.c50.push(cp50!);
        side.c99.push(cp99!);
        side.s50.push(sp50!);
        side.s99.push(sp99!);
        progress(
          `  history ${side.history.toLocaleString('en-US')}, run ${run}/${runs}: claim p99 ${cp99!.toFixed(2)} ms, settle p99 ${sp99!.toFixed(2)} ms`,
        );
      }
    }
    const [none, full] = sides.map(
      (x): HistoryPoint => ({
        history: x.history,
        claimP99: spread(x.c99),
        settleP99: spread(x.s99),
        claimP50: spread(x.c50),
        settleP50: spread(x.s50),
      }),
    ) as [HistoryPoint, HistoryPoint];
    const claimRatio = full.claimP99.median / none.claimP99.median;
    const settleRatio = full.settleP99.median / none.settleP99.median;
    return { samplesPerRun, none, full, claimRatio, settleRatio, ratio: Math.max(claimRatio, settleRatio) };
  } finally {
    for (const side of sides) {
      await side.db.close();
      await side.sql.end();
    }
  }
}

async function seed(sql: postgres.Sql, history: number, progress: (line: string) => void): Promise<void> {
  const seeded = now();
  await sql.unsafe(
    `insert into accounts (name, unipile_account_id) select 'acct-' || g, 'prov-' || g from generate_series(1, ${ACCOUNTS}) g`,
  );
  await sql.unsafe(
    `insert into dm_queue (account_id, recipient_id, body, send_at)
     select a.ids[1 + (g % cardinality(a.ids))], 'r-' || g, 'hello ' || g, now() - interval '1 hour'
       from generate_series(1, ${PENDING}) g, (select array_agg(id order by id) as ids from accounts) a`,
  );
  if (history > 0) {
    await sql.unsafe(
      `insert into dm_queue (account_id, recipient_id, body, send_at, status, attempts, attempted_at, sent_at, failed_at,
                             last_error, provider_message_id)
       select a.ids[1 + (g % cardinality(a.ids))], 'h-' || g, 'old ' || g, t, case when g % 10 = 0 then 'failed' else 'sent' end,
              1, t, case when g % 10 = 0 then null else t end, case when g % 10 = 0 then t end,
              case when g % 10 = 0 then 'failed' end, case when g % 10 = 0 then null else 'm-' || g end
         from generate_series(1, $1::int) g,
              (select array_agg(id order by id) as ids from accounts) a,
              lateral (select date_trunc('day', now()) - interval '1 day' * (1 + g % ${HISTORY_DAYS})
                              + interval '1 second' * (g % 80000) as t) x`,
      [history],
    );
  }
  await sql.unsafe('vacuum analyze');
  progress(
    `  ${history.toLocaleString('en-US')} finished DMs + ${PENDING.toLocaleString('en-US')} pending seeded in ${Math.round(now() - seeded)} ms`,
  );
}

async function cycle(sql: postgres.Sql, db: Db): Promise<[number, number]> {
  const runId = crypto.randomUUID();
  const t0 = now();
  const rows = await claimDueDms(db, { limit: BATCH, leaseSeconds: 90, runId, now: new Date() });
  const t1 = now();
  if (rows.length === 0) throw new Error('the claim returned nothing: the bench seed is wrong');
  const outcomes: Outcome<SentMessage>[] = rows.map((r) => ({
    id: r.id,
    outcome: 'success',
    result: { messageId: `m-${r.id}`, chatId: 'c' },
  }));
  const counts = await settleDms(db, { runId, outcomes, now: new Date() });
  const t2 = now();
  if (counts.succeeded !== rows.length) throw new Error(`settled ${counts.succeeded} of ${rows.length}`);
  await sql`update dm_queue set status = 'pending', attempts = 0, attempted_at = null, lease_until = null,
                    run_id = null, sent_at = null, provider_message_id = null, provider_chat_id = null
             where id = any(${rows.map((r) => r.id)}::uuid[])`;
  return [t1 - t0, t2 - t1];
}
