/**
 * What the jobs need from LinkedIn, whoever provides it (Unipile in production, the sandbox locally). Every method
 * takes an AbortSignal and throws the typed errors of lib/cron/errors.ts, so the jobs never look at HTTP statuses.
 */
export interface SendMessageInput {
  /** The provider's account id (accounts.unipile_account_id). */
  accountId: string;
  recipientId: string;
  text: string;
}

export interface SentMessage {
  chatId: string | null;
  messageId: string | null;
}

export interface PublishPostInput {
  accountId: string;
  text: string;
}

export interface FindSentMessageInput extends SendMessageInput {
  /** When the send started: only messages after it count. */
  after: Date;
}

export interface Relation {
  memberId: string;
  name: string | null;
  headline: string | null;
  publicIdentifier: string | null;
  connectedAt: string | null;
}

export interface RelationsPage {
  items: Relation[];
  /** null on the last page. */
  cursor: string | null;
}

/** LinkedIn refuses an invitation note longer than this (Unipile answers 400 `errors/too_many_characters`). */
export const INVITATION_MESSAGE_MAX_CHARS = 300;

export interface SendInvitationInput {
  /** The provider's account id (accounts.unipile_account_id). */
  accountId: string;
  /** The invitee's provider id (LinkedIn member id, `ACoA…`), not a public identifier or messaging id. */
  providerId: string;
  /** The note sent with the invitation (at most INVITATION_MESSAGE_MAX_CHARS); null sends none. */
  message: string | null;
}

export interface SentInvitation {
  invitationId: string | null;
}

export interface LinkedInProvider {
  readonly name: string;
  /** Upper bound of one call; the engine does not start an item unless this fits in the time left. */
  readonly timeoutMs: number;
  sendMessage(input: SendMessageInput, signal: AbortSignal): Promise<SentMessage>;
  publishPost(input: PublishPostInput, signal: AbortSignal): Promise<{ postId: string | null }>;
  /** Looks for a message we may have sent (reconciling an uncertain DM); null when not found. */
  findSentMessage(input: FindSentMessageInput, signal: AbortSignal): Promise<SentMessage | null>;
  listRelations(
    input: { accountId: string; cursor: string | null; limit: number },
    signal: AbortSignal,
  ): Promise<RelationsPage>;
  /**
   * Sends a connection invitation. A write: anything that may have reached the provider is UncertainError. An
   * invitation already pending, an existing connection or an invitee LinkedIn refuses is PermanentError (code
   * `errors/already_invited_recently`, `errors/already_connected`, `errors/cannot_invite_attendee`, …); LinkedIn's
   * invitation limits are RetryableError with `cooldownKey`.
   */
  sendInvitation(input: SendInvitationInput, signal: AbortSignal): Promise<SentInvitation>;
}
