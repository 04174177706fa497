import fc from 'fast-check';
import { HttpResponse, http } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { UncertainError } from '../lib/cron/errors.ts';
import { createUnipileProvider, SUCCESS_SHAPES } from '../lib/providers/unipile.ts';

/**
 * The write calls check a 2xx body by hand before (instead of) zod. The hand check is only a shortcut: whatever it
 * accepts the schema accepts with the same fields, and whatever it does not accept goes to the schema, so a malformed
 * 2xx is classified exactly as before (tests/unipile.test.ts holds the classification itself).
 */
const id = fc.oneof(fc.string(), fc.constant(null), fc.constant(undefined), fc.integer(), fc.boolean(), fc.object());
const body = (object: string) =>
  fc.oneof(
    fc.record(
      {
        object: fc.oneof(fc.constant(object), fc.string(), fc.constant(null)),
        chat_id: id,
        message_id: id,
        post_id: id,
        invitation_id: id,
        usage: fc.oneof(
          fc.double(),
          fc.integer(),
          fc.constant(null),
          fc.string(),
          fc.constant(Number.POSITIVE_INFINITY),
        ),
        extra: fc.jsonValue(),
      },
      { requiredKeys: [] },
    ),
    fc.jsonValue(),
    fc.array(fc.anything()),
  );

describe('the hand-checked success bodies agree with their schemas', () => {
  for (const shape of SUCCESS_SHAPES) {
    test(`${shape.name}: accepted by hand ⇒ accepted by the schema with the same fields; a valid body is accepted`, () => {
      let accepted = 0;
      fc.assert(
        fc.property(body(shape.name), (json) => {
          const quick = shape.fast(json);
          const full = shape.schema.safeParse(json);
          if (quick === undefined) return;
          accepted++;
          expect(full.success).toBe(true);
          for (const [k, v] of Object.entries(full.data ?? {}))
            expect((quick as Record<string, unknown>)[k]).toEqual(v);
        }),
        { numRuns: 2_000 },
      );
      // The property was exercised, not vacuous: some generated bodies took the hand-checked path.
      expect(accepted).toBeGreaterThan(0);
      const valid = {
        object: shape.name,
        chat_id: 'c',
        message_id: 'm',
        post_id: 'p',
        invitation_id: 'i',
        usage: 75,
      };
      expect(shape.fast(valid)).toBeDefined();
      expect(shape.schema.safeParse(valid).success).toBe(true);
    });
  }
});

const server = setupServer();
beforeAll(() => server.listen({ onUnhandledFrame: 'error' }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

describe('sendMessage on the hand-checked path', () => {
  const provider = createUnipileProvider({ dsn: 'http://unipile.test', apiKey: 'k', timeoutMs: 2_000 });
  const send = () =>
    provider.sendMessage({ accountId: 'a', recipientId: 'r', text: 'hi' }, new AbortController().signal);

  test('a well-formed 201 gives the ids; null ids stay null', async () => {
    server.use(
      http.post('http://unipile.test/api/v1/chats', () =>
        HttpResponse.json({ object: 'ChatStarted', chat_id: 'c1', message_id: 'm1', more: 1 }, { status: 201 }),
      ),
    );
    expect(await send()).toEqual({ chatId: 'c1', messageId: 'm1' });
    server.use(
      http.post('http://unipile.test/api/v1/chats', () =>
        HttpResponse.json({ object: 'ChatStarted', chat_id: null }, { status: 201 }),
      ),
    );
    expect(await send()).toEqual({ chatId: null, messageId: null });
  });

  test('a 201 the hand check refuses is named by the schema, as before: uncertain, malformed_response', async () => {
    server.use(
      http.post('http://unipile.test/api/v1/chats', () =>
        HttpResponse.json({ object: 'ChatStarted', chat_id: 42 }, { status: 201 }),
      ),
    );
    const e = await send().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UncertainError);
    expect((e as UncertainError).code).toBe('malformed_response');
    expect((e as Error).message).toMatch(/^Unipile sendMessage returned HTTP 201 with an unexpected body \(chat_id: /);
  });
});
