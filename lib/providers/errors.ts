import { KeyError } from '../cron/errors.ts';

/** A LinkedIn account is at fault (disconnected, restricted): a key error whose key is the account. */
export class AccountError extends KeyError {
  readonly accountStatus: 'disconnected' | 'paused';
  constructor(message: string, options: { code?: string; cause?: unknown; accountStatus: 'disconnected' | 'paused' }) {
    super(message, { ...options, keyStatus: options.accountStatus });
    this.accountStatus = options.accountStatus;
  }
}
