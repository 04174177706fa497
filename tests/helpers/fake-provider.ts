import { RetryableError } from '../../lib/cron/errors.ts';
import type {
  LinkedInProvider,
  SendInvitationInput,
  SendMessageInput,
  SentInvitation,
  SentMessage,
} from '../../lib/providers/types.ts';

export interface RecordedSend extends SendMessageInput {
  at: number;
}

export interface RecordedInvitation extends SendInvitationInput {
  at: number;
}

/**
 * A provider for engine tests: records every send and invitation, answers after `latencyMs`, or as `behave` /
 * `behaveInvitation` say. `hang: true` never answers and ignores the abort signal (the worst a provider can do).
 */
export function fakeProvider(
  options: {
    latencyMs?: number;
    timeoutMs?: number;
    hang?: boolean;
    behave?: (input: SendMessageInput, n: number) => SentMessage | Error | undefined;
    behaveInvitation?: (input: SendInvitationInput, n: number) => SentInvitation | Error | undefined;
  } = {},
): LinkedInProvider & {
  sends: RecordedSend[];
  posts: { accountId: string; text: string }[];
  invitations: RecordedInvitation[];
} {
  const sends: RecordedSend[] = [];
  const posts: { accountId: string; text: string }[] = [];
  const invitations: RecordedInvitation[] = [];
  let n = 0;
  let invitationsAnswered = 0;
  const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
  return {
    name: 'fake',
    timeoutMs: options.timeoutMs ?? 2_000,
    sends,
    posts,
    invitations,
    async sendMessage(input) {
      sends.push({ ...input, at: Date.now() });
      const i = n++;
      if (options.hang) return new Promise<SentMessage>(() => {});
      if (options.latencyMs) await wait(options.latencyMs);
      const r = options.behave?.(input, i);
      if (r instanceof Error) throw r;
      return r ?? { chatId: `chat-${i}`, messageId: `msg-${i}` };
    },
    async publishPost(input) {
      posts.push(input);
      if (options.latencyMs) await wait(options.latencyMs);
      return { postId: `post-${posts.length}` };
    },
    async findSentMessage(input) {
      const hit = sends.find(
        (s) => s.accountId === input.accountId && s.recipientId === input.recipientId && s.text === input.text,
      );
      return hit ? { chatId: 'found-chat', messageId: 'found-msg' } : null;
    },
    async listRelations() {
      throw new RetryableError('not implemented in the fake');
    },
    async sendInvitation(input) {
      invitations.push({ ...input, at: Date.now() });
      const i = invitationsAnswered++;
      if (options.hang) return new Promise<SentInvitation>(() => {});
      if (options.latencyMs) await wait(options.latencyMs);
      const r = options.behaveInvitation?.(input, i);
      if (r instanceof Error) throw r;
      return r ?? { invitationId: `inv-${i}` };
    },
  };
}
