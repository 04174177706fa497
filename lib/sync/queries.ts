import type { Outcome, SettleCounts } from '../cron/drain.ts';
import { countDecisions, toSettleRecords } from '../cron/outcomes.ts';
import { type PolicyOverride, policyArgs } from '../cron/policy.ts';
import type { Db } from '../db/types.ts';
import type { Relation } from '../providers/types.ts';

/**
 * One thin typed function per SQL function of account sync (supabase/migrations/20261125001200_sync_jobs.sql; the
 * settle is in 20261201000300_queues_on_core.sql; live definitions in supabase/schema.sql).
 */

export type SyncKind = 'relations';
export type SyncStatus = 'queued' | 'running' | 'completed' | 'failed';

export interface SyncJobRow {
  id: string;
  account_id: string;
  kind: SyncKind;
  status: SyncStatus;
  pages: number;
  items: number;
  error: string | null;
  created_at: string;
  updated_at: string;
  finished_at: string | null;
}

/** The job as `GET /api/sync-jobs/<id>` shows it. */
export interface SyncJobView {
  id: string;
  accountId: string;
  kind: SyncKind;
  status: SyncStatus;
  progress: { pages: number; items: number };
  error: string | null;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
}

export function toSyncJobView(row: SyncJobRow): SyncJobView {
  return {
    id: row.id,
    accountId: row.account_id,
    kind: row.kind,
    status: row.status,
    progress: { pages: Number(row.pages), items: Number(row.items) },
    error: row.error,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
    finishedAt: row.finished_at === null ? null : iso(row.finished_at),
  };
}

// PostgREST sends `2026-03-10T12:00:00+00:00`, the drivers a Date: the API always answers `...Z`.
const iso = (value: string) => new Date(value).toISOString();

/** The new job (created) or the one already queued/running for the account and kind; null when the account is unknown. */
export async function enqueueSyncJob(
  db: Db,
  args: { accountId: string; kind: SyncKind; now: Date },
): Promise<(SyncJobRow & { created: boolean }) | null> {
  const rows = await db.rpc<SyncJobRow & { created: boolean }>('enqueue_sync_job', {
    p_account_id: args.accountId,
    p_kind: args.kind,
    p_now: args.now,
  });
  return rows[0] ?? null;
}

export async function getSyncJob(db: Db, id: string): Promise<SyncJobRow | null> {
  const rows = await db.rpc<SyncJobRow>('get_sync_job', { p_id: id });
  return rows[0] ?? null;
}

export interface ClaimedSyncJob {
  id: string;
  account_id: string;
  provider_account_id: string | null;
  kind: SyncKind;
  cursor: string | null;
  pages: number;
  items: number;
  attempts: number;
}

export function claimSyncJobs(
  db: Db,
  args: { limit: number; leaseSeconds: number; runId: string; now: Date },
): Promise<ClaimedSyncJob[]> {
  return db.rpc<ClaimedSyncJob>('claim_sync_jobs', {
    p_limit: args.limit,
    p_lease_seconds: args.leaseSeconds,
    p_run_id: args.runId,
    p_now: args.now,
  });
}

export interface CommittedPage {
  /** False when this page had already been committed (by a run whose lease had expired): nothing changed. */
  applied: boolean;
  status: SyncStatus;
  pages: number;
  items: number;
  /** Relations in the page (what this call upserted when applied). */
  fetched: number;
}

/** Upserts a page and advances the job's cursor and progress in one SQL call, guarded by the page it was fetched for. */
export async function commitSyncPage(
  db: Db,
  args: { job: ClaimedSyncJob; nextCursor: string | null; relations: Relation[]; now: Date },
): Promise<CommittedPage> {
  const rows = await db.rpc<Omit<CommittedPage, 'fetched'>>('commit_sync_page', {
    p_job_id: args.job.id,
    p_expected_pages: args.job.pages,
    p_expected_cursor: args.job.cursor,
    p_next_cursor: args.nextCursor,
    // null, not []: the port passes an empty array as a Postgres array literal, which is not JSON.
    p_items: args.relations.length > 0 ? args.relations : null,
    p_now: args.now,
  });
  const row = rows[0];
  if (!row) throw new Error(`sync job ${args.job.id} vanished while its page was committed`);
  return { ...row, fetched: args.relations.length };
}

/**
 * Records the pages that did not commit: settle_sync_jobs (supabase/migrations/20261201000300_queues_on_core.sql),
 * through the core's transition. Successes need no call (commit_sync_page released the job). A read that timed out
 * changed nothing at the provider, so uncertain is retried; each outcome carries the page count its job had at claim.
 */
export async function settleSyncJobs(
  db: Db,
  args: {
    runId: string;
    outcomes: Outcome<CommittedPage>[];
    pagesAtClaim: ReadonlyMap<string, number>;
    policy?: PolicyOverride;
    now: Date;
  },
): Promise<SettleCounts> {
  const succeeded = args.outcomes.filter((o) => o.outcome === 'success' && o.result.applied).length;
  const rest = args.outcomes.filter((o) => o.outcome !== 'success');
  const counts: SettleCounts = { succeeded: 0, failed: 0, retried: 0, uncertain: 0, released: 0 };
  if (rest.length > 0) {
    const rows = await db.rpc<{ id: string; decision: string }>('settle_sync_jobs', {
      p_run_id: args.runId,
      p_outcomes: toSettleRecords(rest, {
        uncertain: 'retry',
        extra: (o) => (o.outcome === 'release' ? undefined : { pages: args.pagesAtClaim.get(o.id) }),
      }),
      p_now: args.now,
      ...policyArgs(args.policy),
    });
    Object.assign(counts, countDecisions(rows));
  }
  return { ...counts, succeeded };
}

export function syncBacklog(db: Db, now: Date): Promise<number> {
  return db.rpc<{ sync_backlog: number }>('sync_backlog', { p_now: now }).then((r) => r[0]?.sync_backlog ?? 0);
}
