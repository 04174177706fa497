import postgres from 'postgres';
import { openPostgres } from '../lib/db/postgres.ts';
import { claimDueDms } from '../lib/dm/queries.ts';
import { createMigratedDatabase, rawSql } from './pg.ts';
import { now, percentiles, type Spread, spread } from './stats.ts';

export const CLAIM_ACCOUNTS = 10_000;
export const CLAIM_BATCH = 100;
const WARMUP = 20;

export interface ClaimLatencyResult {
  pending: number;
  p50: Spread;
  p99: Spread;
  samplesPerRun: number;
  /** auto_explain output of one claim (nested statements, analyze, buffers), when the server allows it. */
  explain: string | null;
}

/**
 * Latency of one claim_due_dms call (caps on: default dm_daily_limit 25, batch 100) at growing queue sizes over 10,000
 * accounts. Each claim commits (so accounts rotate as in production); its rows are then put back to 'pending' outside
 * the timed window, so the table keeps its size.
 */
export async function benchClaimLatency(
  sizes: number[],
  runs: number,
  samplesPerRun: number,
  progress: (line: string) => void,
  /** Changes the fresh database before seeding (used to try out engine changes on a scratch copy). */
  prepare?: (sql: postgres.Sql) => Promise<void>,
): Promise<ClaimLatencyResult[]> {
  const { url, db: setupDb } = await createMigratedDatabase('claim');
  await setupDb.close();
  const sql = rawSql(url, 1);
  await prepare?.(sql);
  const db = openPostgres(url, { max: 1 });
  const results: ClaimLatencyResult[] = [];
  try {
    await sql.unsafe(
      `insert into accounts (name, unipile_account_id) select 'acct-' || g, 'prov-' || g from generate_series(1, ${CLAIM_ACCOUNTS}) g`,
    );
    let have = 0;
    for (const size of [...sizes].sort((a, b) => a - b)) {
      const seeded = now();
      await sql.unsafe(
        `insert into dm_queue (account_id, recipient_id, body, send_at)
         select a.ids[1 + (g % cardinality(a.ids))], 'r-' || g, 'hello ' || g, now() - interval '1 hour'
           from generate_series($1::int + 1, $2::int) g, (select array_agg(id order by id) as ids from accounts) a`,
        [have, size],
      );
      have = size;
      await sql.unsafe('vacuum analyze dm_queue');
      await sql.unsafe('vacuum analyze accounts');
      progress(`  ${size.toLocaleString('en-US')} pending rows seeded in ${Math.round(now() - seeded)} ms`);

      const claimOnce = async (): Promise<number> => {
        const t0 = now();
        const rows = await claimDueDms(db, {
          limit: CLAIM_BATCH,
          leaseSeconds: 90,
          runId: crypto.randomUUID(),
          now: new Date(),
        });
        const ms = now() - t0;
        if (rows.length === 0) throw new Error('the claim returned nothing: the bench seed is wrong');
        await sql`update dm_queue set status = 'pending', attempts = 0, attempted_at = null, lease_until = null,
                          run_id = null where id = any(${rows.map((r) => r.id)}::uuid[])`;
        return ms;
      };
      for (let i = 0; i < WARMUP; i++) await claimOnce();
      const p50s: number[] = [];
      const p99s: number[] = [];
      for (let run = 1; run <= runs; run++) {
        const samples: number[] = [];
        for (let i = 0; i < samplesPerRun; i++) samples.push(await claimOnce());
        const [p50, p99] = percentiles(samples, [0.5, 0.99]);
        p50s.push(p50!);
        p99s.push(p99!);
        progress(
          `  ${size.toLocaleString('en-US')} rows, run ${run}/${runs}: p50 ${p50!.toFixed(2)} ms, p99 ${p99!.toFixed(2)} ms`,
        );
      }
      results.push({
        pending: size,
        p50: spread(p50s),
        p99: spread(p99s),
        samplesPerRun,
        explain: await explainClaim(url),
      });
    }
    return results;
  } finally {
    await db.close();
    await sql.end();
  }
}

/**
 * One claim under auto_explain (analyze, buffers, nested statements) in a transaction that rolls back; the plans come
 * back as NOTICEs. Needs a superuser (LOAD); null otherwise.
 */
async function explainClaim(url: string): Promise<string | null> {
  const notices: string[] = [];
  const explained = postgres(url, { max: 1, onnotice: (n) => notices.push(String(n.message)) });
  try {
    await explained.begin(async (tx) => {
      await tx.unsafe(`load 'auto_explain'`);
      await tx.unsafe(`set local auto_explain.log_min_duration = 0`);
      await tx.unsafe(`set local auto_explain.log_analyze = on`);
      await tx.unsafe(`set local auto_explain.log_buffers = on`);
      await tx.unsafe(`set local auto_explain.log_timing = on`);
      await tx.unsafe(`set local auto_explain.log_nested_statements = on`);
      await tx.unsafe(`set local auto_explain.log_level = notice`);
      await tx.unsafe(`set local client_min_messages = notice`);
      await tx.unsafe(`select count(*) from public.claim_due_dms(${CLAIM_BATCH}, 90, null, now())`);
      throw new RollbackSignal();
    });
  } catch (e) {
    if (!(e instanceof RollbackSignal)) return `auto_explain unavailable: ${(e as Error).message}`;
  } finally {
    await explained.end();
  }
  // The accounts CHECK (is_valid_timezone, PL/pgSQL) logs one plan per account row the claim rewrites: count them.
  const tzChecks = notices.filter((n) => n.includes('at time zone p_tz')).length;
  const plans = notices
    .filter((n) => !n.includes('at time zone p_tz'))
    .map((n) => n.replace(/'\{[0-9a-f-]{36}(,[0-9a-f-]{36})*\}'/g, (m) => `'{…${m.split(',').length} uuids…}'`));
  return [
    ...plans,
    `(+ ${tzChecks} plans of "SELECT now() at time zone p_tz": the timezone CHECK, once per account row updated)`,
  ].join('\n\n');
}

class RollbackSignal extends Error {}
