import { z } from 'zod';
import { PermanentError } from '../cron/errors.ts';
import type { Db } from '../db/types.ts';
import { AccountError } from '../providers/errors.ts';
import type { LinkedInProvider, Relation } from '../providers/types.ts';
import { type ClaimedSyncJob, type CommittedPage, commitSyncPage } from './queries.ts';

/** Relations per provider page: Unipile accepts 1..1000. */
export function syncPageSize(env: NodeJS.ProcessEnv = process.env): number {
  return z.coerce
    .number()
    .int()
    .min(1)
    .max(1000)
    .catch(100)
    .parse(env.SYNC_PAGE_SIZE ?? 100);
}

/**
 * A timestamp Postgres will accept, or null: one odd value must not make the whole page fail to commit. Date.parse
 * accepts years Postgres refuses in ISO form: 0000 (a common null-date; Postgres has no year 0) and the signed
 * six-digit years toISOString writes outside 0001..9999 (`+010000-…` reads as a time zone, `-000001-…` is a syntax
 * error). Inside 0001..9999 toISOString writes YYYY-MM-DDTHH:mm:ss.sssZ, which Postgres always reads.
 */
function cleanConnectedAt(value: string | null): string | null {
  if (value === null) return null;
  const d = new Date(Date.parse(value));
  const year = d.getUTCFullYear();
  return Number.isFinite(year) && year >= 1 && year <= 9999 ? d.toISOString() : null;
}

function cleanRelation(r: Relation): Relation {
  return { ...r, connectedAt: cleanConnectedAt(r.connectedAt) };
}

/**
 * One page of one job: fetch from the job's committed cursor, then commit the page, the next cursor and the progress
 * in one SQL call. If the commit fails, the cursor did not move, so the next attempt fetches this same page again;
 * pages before it are never fetched again.
 */
export async function syncOnePage(
  db: Db,
  provider: LinkedInProvider,
  job: ClaimedSyncJob,
  args: { pageSize: number; now: () => Date; signal: AbortSignal },
): Promise<CommittedPage> {
  if (!job.provider_account_id) {
    throw new AccountError('the account has no unipile_account_id', {
      code: 'missing_provider_account',
      accountStatus: 'paused',
    });
  }
  const page = await provider.listRelations(
    { accountId: job.provider_account_id, cursor: job.cursor, limit: args.pageSize },
    args.signal,
  );
  // A provider that hands back the cursor it was given would loop forever.
  if (page.cursor !== null && page.cursor === job.cursor) {
    throw new PermanentError(`the provider returned the same cursor again after page ${job.pages + 1}`, {
      code: 'cursor_loop',
    });
  }
  return commitSyncPage(db, {
    job,
    nextCursor: page.cursor,
    relations: page.items.filter((r) => r.memberId).map(cleanRelation),
    now: args.now(),
  });
}
