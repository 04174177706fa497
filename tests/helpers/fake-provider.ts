import { RetryableError } from '../../lib/cron/errors.ts';
import type { LinkedInProvider, SendMessageInput, SentMessage } from '../../lib/providers/types.ts';

export interface RecordedSend extends SendMessageInput {
  at: number;
}

/**
 * A provider for engine tests: records every send, answers after `latencyMs`, or as `behave` says. `hang: true` never
 * answers and ignores the abort signal (the worst a provider can do).
 */
export function fakeProvider(
  options: {
    latencyMs?: number;
    timeoutMs?: number;
    hang?: boolean;
    behave?: (input: SendMessageInput, n: number) => SentMessage | Error | undefined;
  } = {},
): LinkedInProvider & { sends: RecordedSend[]; posts: { accountId: string; text: string }[] } {
  const sends: RecordedSend[] = [];
  const posts: { accountId: string; text: string }[] = [];
  let n = 0;
  const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
  return {
    name: 'fake',
    timeoutMs: options.timeoutMs ?? 2_000,
    sends,
    posts,
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
  };
}
