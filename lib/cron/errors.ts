/**
 * Failure intent as types. A job's item handler throws one of these (or anything else, which counts as retryable);
 * the drain loop turns them into outcomes that the job's SQL settle function records in one statement.
 */
export type FailureKind = 'permanent' | 'retry' | 'uncertain' | 'key';

export abstract class JobError extends Error {
  abstract readonly kind: FailureKind;
  /** Short machine-readable reason, e.g. the provider's `errors/invalid_recipient`. */
  readonly code: string | undefined;
  constructor(message: string, options: { code?: string; cause?: unknown } = {}) {
    super(message || 'job error', { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code;
  }
}

/** Cannot succeed however often it is tried (invalid recipient, 4xx validation): fail at once. */
export class PermanentError extends JobError {
  readonly kind = 'permanent' as const;
}

/**
 * Known not to have taken effect (connection refused, 429, 5xx the provider documents as side-effect free): try again
 * later, after `retryAfterMs` when the provider said so. `cooldownKey` rests the item's key (its account) too: no
 * more items of that key in this run, and none until Retry-After (a 429 is about the key, not the item).
 */
export class RetryableError extends JobError {
  readonly kind = 'retry' as const;
  readonly retryAfterMs: number | undefined;
  readonly cooldownKey: boolean;
  constructor(
    message: string,
    options: { code?: string; cause?: unknown; retryAfterMs?: number; cooldownKey?: boolean } = {},
  ) {
    super(message, options);
    this.retryAfterMs = options.retryAfterMs;
    this.cooldownKey = options.cooldownKey ?? false;
  }
}

/** The request may have reached the provider (timeout after sending, 504): never retried automatically. */
export class UncertainError extends JobError {
  readonly kind = 'uncertain' as const;
}

/**
 * The item's key (for the LinkedIn queues: its account), not the item, is at fault: the item waits without spending an
 * attempt, and the queue's settle function pauses the key with `keyStatus` and the reason. The engine only knows keys;
 * what a pause means (an account marked disconnected or paused) is the queue's.
 */
export class KeyError extends JobError {
  readonly kind = 'key' as const;
  readonly keyStatus: string;
  constructor(message: string, options: { code?: string; cause?: unknown; keyStatus: string }) {
    super(message, options);
    this.keyStatus = options.keyStatus;
  }
}
