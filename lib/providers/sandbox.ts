/**
 * An in-process fake LinkedIn, used when no Unipile credentials are set (local dev, demos, tests). Outcomes are
 * deterministic by id prefix so every failure path can be shown on purpose:
 *
 * - recipient `invalid…`   → PermanentError `errors/invalid_recipient`
 * - recipient `flaky…`     → the first attempt per recipient in this process is a 503 RetryableError, later ones succeed
 *                            (counted separately for messages and invitations)
 * - recipient `slow…`      → takes 3× the latency
 * - recipient `ratelimit…` → 429 RetryableError (retry after 60 s, cooldown the account)
 * - account `disconnected…` → AccountError 'disconnected' for every call
 * - post text containing `#fail` → PermanentError
 *
 * Invitations (recipient = the invitee's providerId) follow the same prefixes, plus:
 * - invitee `pending…`     → PermanentError `errors/already_invited_recently` (an invitation is already pending)
 * - invitee `weeklylimit…` → 422 RetryableError `errors/cannot_resend_yet` (LinkedIn's invitation limit, cooldown the
 *                            account, no Retry-After)
 * - inviting the same person again from the same account → PermanentError `errors/already_invited_recently`
 * - a note over 300 characters → PermanentError `errors/too_many_characters`
 *
 * A send takes effect halfway through its latency: aborting it before then leaves nothing behind, aborting it after
 * leaves a message that findSentMessage will find (or an invitation a second invite runs into) — both surface as
 * UncertainError, as with the real API.
 */
import { PermanentError, RetryableError, UncertainError } from '../cron/errors.ts';
import { log } from '../log.ts';
import { AccountError } from '../providers/errors.ts';
import {
  type FindSentMessageInput,
  INVITATION_MESSAGE_MAX_CHARS,
  type LinkedInProvider,
  type PublishPostInput,
  type Relation,
  type RelationsPage,
  type SendInvitationInput,
  type SendMessageInput,
  type SentInvitation,
  type SentMessage,
} from './types.ts';

export interface SandboxOptions {
  /** Simulated duration of one call (default 300). */
  latencyMs?: number;
  /** Up to this much random extra latency per call (default 0). */
  jitterMs?: number;
  /** Clock used to timestamp sent messages (default: the real clock). */
  now?: () => Date;
}

const RELATIONS_PER_PAGE = 50;
const RELATION_PAGES = ['p2', 'p3'] as const;
const FIRST_NAMES = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Margaret', 'Ken', 'Radia', 'Linus'];
const LAST_NAMES = ['Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov', 'Knuth', 'Hamilton', 'Thompson', 'Perlman'];
const HEADLINES = ['Engineering Manager', 'Staff Engineer', 'Founder', 'Product Designer', 'Head of Growth'];

interface Sent {
  accountId: string;
  recipientId: string;
  text: string;
  at: Date;
  chatId: string;
  messageId: string;
}

type Outcome = 'sent' | 'published' | 'invited' | 'permanent' | 'retry' | 'ratelimited' | 'account' | 'aborted';

function abortedBefore(op: string): RetryableError {
  return new RetryableError(`sandbox ${op} aborted before the request was sent`, { code: 'aborted' });
}

export function createSandboxProvider(options: SandboxOptions = {}): LinkedInProvider {
  const latencyMs = Math.max(0, options.latencyMs ?? 300);
  const jitterMs = Math.max(0, options.jitterMs ?? 0);
  const now = options.now ?? (() => new Date());

  let counter = 0;
  const chats = new Map<string, string>();
  const sent: Sent[] = [];
  const flakySeen = new Set<string>();
  /** `${accountId}\u0000${providerId}` of every invitation sent. */
  const invited = new Set<string>();

  const latency = (factor = 1) => Math.round((latencyMs + Math.random() * jitterMs) * factor);

  /** Resolves after `ms`, or rejects with `onAbort()` as soon as the signal aborts. */
  function wait(ms: number, signal: AbortSignal, onAbort: () => Error): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(onAbort());
        return;
      }
      const abort = () => {
        clearTimeout(timer);
        reject(onAbort());
      };
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', abort);
        resolve();
      }, ms);
      signal.addEventListener('abort', abort, { once: true });
    });
  }

  function checkAccount(op: string, accountId: string): void {
    if (accountId.startsWith('disconnected')) {
      throw new AccountError(`sandbox ${op}: account is disconnected`, {
        code: 'errors/disconnected_account',
        accountStatus: 'disconnected',
      });
    }
  }

  function logSend(op: string, fields: Record<string, unknown>, outcome: Outcome, startedAt: number): void {
    log('info', 'sandbox call', {
      provider: 'sandbox',
      op,
      ...fields,
      outcome,
      latencyMs: Math.round(performance.now() - startedAt),
    });
  }

  function outcomeOf(e: unknown): Outcome {
    if (e instanceof AccountError) return 'account';
    if (e instanceof PermanentError) return 'permanent';
    if (e instanceof UncertainError) return 'aborted';
    if (e instanceof RetryableError) return e.cooldownKey ? 'ratelimited' : e.code === 'aborted' ? 'aborted' : 'retry';
    return 'retry';
  }

  async function sendMessage(input: SendMessageInput, signal: AbortSignal): Promise<SentMessage> {
    const op = 'sendMessage';
    const startedAt = performance.now();
    const { accountId, recipientId } = input;
    try {
      if (signal.aborted) throw abortedBefore(op);
      checkAccount(op, accountId);
      const total = latency(recipientId.startsWith('slow') ? 3 : 1);
      const half = Math.floor(total / 2);
      const uncertain = () =>
        new UncertainError(`sandbox ${op} aborted mid-call; it may have taken effect`, { code: 'aborted' });
      await wait(half, signal, uncertain);

      if (recipientId.startsWith('invalid')) {
        throw new PermanentError(`sandbox ${op}: recipient ${recipientId} is invalid`, {
          code: 'errors/invalid_recipient',
        });
      }
      if (recipientId.startsWith('ratelimit')) {
        throw new RetryableError(`sandbox ${op}: HTTP 429 too many requests`, {
          code: 'errors/too_many_requests',
          retryAfterMs: 60_000,
          cooldownKey: true,
        });
      }
      if (recipientId.startsWith('flaky') && !flakySeen.has(recipientId)) {
        flakySeen.add(recipientId);
        throw new RetryableError(`sandbox ${op}: HTTP 503 service unavailable`, { code: 'http_503' });
      }

      // The message is sent from here on, whatever happens to the rest of the call.
      const key = `${accountId}\u0000${recipientId}`;
      let chatId = chats.get(key);
      if (!chatId) {
        chatId = `sandbox_chat_${++counter}`;
        chats.set(key, chatId);
      }
      const messageId = `sandbox_msg_${++counter}`;
      sent.push({ accountId, recipientId, text: input.text, at: now(), chatId, messageId });

      await wait(total - half, signal, uncertain);
      logSend(op, { recipientId }, 'sent', startedAt);
      return { chatId, messageId };
    } catch (e) {
      logSend(op, { recipientId }, outcomeOf(e), startedAt);
      throw e;
    }
  }

  async function publishPost(input: PublishPostInput, signal: AbortSignal): Promise<{ postId: string | null }> {
    const op = 'publishPost';
    const startedAt = performance.now();
    try {
      if (signal.aborted) throw abortedBefore(op);
      checkAccount(op, input.accountId);
      const total = latency();
      const half = Math.floor(total / 2);
      const uncertain = () =>
        new UncertainError(`sandbox ${op} aborted mid-call; it may have taken effect`, { code: 'aborted' });
      await wait(half, signal, uncertain);
      if (input.text.includes('#fail')) {
        throw new PermanentError(`sandbox ${op}: post rejected (#fail)`, { code: 'errors/invalid_post' });
      }
      const postId = `sandbox_post_${++counter}`;
      await wait(total - half, signal, uncertain);
      logSend(op, {}, 'published', startedAt);
      return { postId };
    } catch (e) {
      logSend(op, {}, outcomeOf(e), startedAt);
      throw e;
    }
  }

  async function sendInvitation(input: SendInvitationInput, signal: AbortSignal): Promise<SentInvitation> {
    const op = 'sendInvitation';
    const startedAt = performance.now();
    const { accountId, providerId } = input;
    try {
      if (signal.aborted) throw abortedBefore(op);
      checkAccount(op, accountId);
      const total = latency(providerId.startsWith('slow') ? 3 : 1);
      const half = Math.floor(total / 2);
      const uncertain = () =>
        new UncertainError(`sandbox ${op} aborted mid-call; it may have taken effect`, { code: 'aborted' });
      await wait(half, signal, uncertain);

      const key = `${accountId}\u0000${providerId}`;
      if (input.message !== null && [...input.message].length > INVITATION_MESSAGE_MAX_CHARS) {
        throw new PermanentError(
          `sandbox ${op}: HTTP 400 the note is over ${INVITATION_MESSAGE_MAX_CHARS} characters`,
          {
            code: 'errors/too_many_characters',
          },
        );
      }
      if (providerId.startsWith('invalid')) {
        throw new PermanentError(`sandbox ${op}: recipient ${providerId} is invalid`, {
          code: 'errors/invalid_recipient',
        });
      }
      if (providerId.startsWith('pending') || invited.has(key)) {
        throw new PermanentError(`sandbox ${op}: HTTP 422 an invitation to ${providerId} is already pending`, {
          code: 'errors/already_invited_recently',
        });
      }
      if (providerId.startsWith('ratelimit')) {
        throw new RetryableError(`sandbox ${op}: HTTP 429 too many requests`, {
          code: 'errors/too_many_requests',
          retryAfterMs: 60_000,
          cooldownKey: true,
        });
      }
      if (providerId.startsWith('weeklylimit')) {
        throw new RetryableError(`sandbox ${op}: HTTP 422 LinkedIn's invitation limit for this account`, {
          code: 'errors/cannot_resend_yet',
          cooldownKey: true,
        });
      }
      const flakyKey = `${op}\u0000${providerId}`;
      if (providerId.startsWith('flaky') && !flakySeen.has(flakyKey)) {
        flakySeen.add(flakyKey);
        throw new RetryableError(`sandbox ${op}: HTTP 503 service unavailable`, { code: 'http_503' });
      }

      // The invitation is sent from here on, whatever happens to the rest of the call.
      invited.add(key);
      const invitationId = `sandbox_invitation_${++counter}`;
      await wait(total - half, signal, uncertain);
      logSend(op, { providerId }, 'invited', startedAt);
      return { invitationId };
    } catch (e) {
      logSend(op, { providerId }, outcomeOf(e), startedAt);
      throw e;
    }
  }

  async function findSentMessage(input: FindSentMessageInput, signal: AbortSignal): Promise<SentMessage | null> {
    const op = 'findSentMessage';
    if (signal.aborted) throw abortedBefore(op);
    checkAccount(op, input.accountId);
    await wait(latency(), signal, () => new RetryableError(`sandbox ${op} aborted`, { code: 'aborted' }));
    const wanted = input.text.trim();
    const after = input.after.getTime();
    const hit = sent.find(
      (s) =>
        s.accountId === input.accountId &&
        s.recipientId === input.recipientId &&
        s.text.trim() === wanted &&
        s.at.getTime() >= after,
    );
    return hit ? { chatId: hit.chatId, messageId: hit.messageId } : null;
  }

  async function listRelations(
    input: { accountId: string; cursor: string | null; limit: number },
    signal: AbortSignal,
  ): Promise<RelationsPage> {
    const op = 'listRelations';
    if (signal.aborted) throw abortedBefore(op);
    checkAccount(op, input.accountId);
    const page =
      input.cursor === null ? 0 : RELATION_PAGES.indexOf(input.cursor as (typeof RELATION_PAGES)[number]) + 1;
    if (page === 0 && input.cursor !== null) {
      throw new PermanentError(`sandbox ${op}: unknown cursor`, { code: 'errors/invalid_cursor' });
    }
    await wait(latency(), signal, () => new RetryableError(`sandbox ${op} aborted`, { code: 'aborted' }));
    const items: Relation[] = [];
    for (let i = 0; i < RELATIONS_PER_PAGE; i++) {
      const n = page * RELATIONS_PER_PAGE + i;
      const first = FIRST_NAMES[n % FIRST_NAMES.length] ?? 'Sam';
      const last = LAST_NAMES[Math.floor(n / FIRST_NAMES.length) % LAST_NAMES.length] ?? 'Doe';
      items.push({
        memberId: `sandbox_member_${input.accountId}_${n}`,
        name: `${first} ${last}`,
        headline: HEADLINES[n % HEADLINES.length] ?? null,
        publicIdentifier: `${first}-${last}-${n}`.toLowerCase(),
        connectedAt: new Date(Date.UTC(2024, 0, 1) - n * 86_400_000).toISOString(),
      });
    }
    return { items, cursor: RELATION_PAGES[page] ?? null };
  }

  return {
    name: 'sandbox',
    timeoutMs: (latencyMs + jitterMs) * 3 + 5000,
    sendMessage,
    publishPost,
    findSentMessage,
    listRelations,
    sendInvitation,
  };
}
