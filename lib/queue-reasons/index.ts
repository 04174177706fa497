import type { Db } from '../db/types.ts';

/**
 * Why an item is not moving: thin typed calls over queue_explain, queue_item and queue_waiting_reasons
 * (supabase/migrations/20261202000300_item_reasons.sql), which read the claim's own per-account rules
 * (<singular>_account_state): one definition, so the explanation changes when the claim's rules do.
 */

export const REASONS = [
  'job_paused',
  'account_disconnected',
  'account_paused',
  'scheduled',
  'backoff',
  'retry_after',
  'cap_reached',
  'outside_window',
  'pacing',
  'due',
  'leased',
  'uncertain',
  'failed',
  'done',
  'cancelled',
  'draft',
] as const;
export type Reason = (typeof REASONS)[number];

/** What the reason's figures are; `until` is when the reason stops holding the item (where it is time-bound). */
export interface ReasonDetail {
  accountId?: string;
  timezone?: string;
  until?: string;
  job?: string;
  since?: string;
  accountStatus?: string;
  statusReason?: string;
  attempt?: number;
  maxAttempts?: number;
  attempts?: number;
  lastError?: string;
  used?: number;
  limit?: number;
  remaining?: number;
  period?: 'day' | 'week';
  turn?: number;
  windowStartHour?: number;
  windowEndHour?: number;
  minIntervalSeconds?: number;
  jitterSeconds?: number;
  dueAt?: string;
  runId?: string;
  attemptedAt?: string;
  expired?: boolean;
  failedAt?: string;
  doneAt?: string;
  actions?: string[];
}

export interface Explanation {
  id: string;
  account_id: string;
  status: string;
  reason: Reason;
  detail: ReasonDetail;
}

/** The queue's job, whose pause flag holds every waiting item (jobs/dm-queue.ts, post-scheduler.ts, invitations.ts). */
export const QUEUE_JOBS: Record<string, string> = {
  dm: 'dm-queue',
  post: 'post-scheduler',
  invitation: 'invitations',
};

/** The route segment of each queue's items: /api/dms/<id>, /api/posts/<id>, /api/invitations/<id>. */
export const QUEUE_PLURALS: Record<string, string> = { dm: 'dms', post: 'posts', invitation: 'invitations' };

export function explainItems(
  db: Db,
  queue: string,
  ids: string[],
  options: { now?: Date; job?: string | null } = {},
): Promise<Explanation[]> {
  return db.rpc<Explanation>('queue_explain', {
    p_queue: queue,
    p_ids: ids,
    p_now: options.now ?? new Date(),
    p_job: options.job === undefined ? (QUEUE_JOBS[queue] ?? null) : options.job,
  });
}

export interface ItemView {
  item: {
    id: string;
    queue: string;
    accountId: string;
    status: string;
    attempts: number;
    dueAt: string | null;
    nextAttemptAt: string | null;
    attemptedAt: string | null;
    leaseUntil: string | null;
    doneAt: string | null;
    failedAt: string | null;
    lastError: string | null;
    createdAt: string;
    updatedAt: string;
  };
  reason: Reason;
  detail: ReasonDetail;
}

/** One item (its engine columns, never its text) and its reason; null when there is no such item. */
export async function itemWithReason(db: Db, queue: string, id: string, now = new Date()): Promise<ItemView | null> {
  const [row] = await db.rpc<{ queue_item: ItemView | null }>('queue_item', {
    p_queue: queue,
    p_id: id,
    p_now: now,
    p_job: QUEUE_JOBS[queue] ?? null,
  });
  return row?.queue_item ?? null;
}

export interface WaitingReason {
  reason: Reason;
  n: number;
  examples: { id: string; account: string; detail: ReasonDetail }[];
}

/** The queue's waiting items counted by reason (exact), with a few examples each, soonest due first. */
export function waitingReasons(
  db: Db,
  queue: string,
  options: { now?: Date; examples?: number } = {},
): Promise<WaitingReason[]> {
  return db.rpc<WaitingReason>('queue_waiting_reasons', {
    p_queue: queue,
    p_now: options.now ?? new Date(),
    p_job: QUEUE_JOBS[queue] ?? null,
    p_examples: options.examples ?? 3,
  });
}
