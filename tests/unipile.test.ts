import { createServer } from 'node:net';
import { delay, HttpResponse, http } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { PermanentError, RetryableError, UncertainError } from '../lib/cron/errors.ts';
import { AccountError } from '../lib/providers/errors.ts';
import { getProvider, setProvider } from '../lib/providers/index.ts';
import { createSandboxProvider } from '../lib/providers/sandbox.ts';
import type { LinkedInProvider } from '../lib/providers/types.ts';
import { createUnipileProvider, unipileBaseUrl } from '../lib/providers/unipile.ts';
import { capturedLogs, forbidInLogs } from './helpers/logs.ts';

const DSN = 'api9.unipile.test:13111';
const BASE = `https://${DSN}`;
const API_KEY = 'unipile-test-api-key-never-logged';
const TEXT = 'Hello Ada, secret message body 8c1f';
const ACCOUNT = 'acc_123';
const RECIPIENT = 'ACoAAB_recipient';

forbidInLogs(API_KEY);
forbidInLogs(TEXT);

const server = setupServer();
const unipile = createUnipileProvider({ dsn: DSN, apiKey: API_KEY, timeoutMs: 5_000 });
const fastTimeout = createUnipileProvider({ dsn: DSN, apiKey: API_KEY, timeoutMs: 200 });
const savedLogDebug = process.env.LOG_DEBUG;

beforeAll(() => {
  process.env.LOG_DEBUG = '1';
  server.listen({
    onUnhandledFrame: ({ frame, defaults }) => {
      // Only the connection-refused tests talk to the real network, and only to localhost.
      const url = (frame.data as { request?: Request }).request?.url ?? '';
      if (url.startsWith('http://127.0.0.1:')) return;
      defaults.error();
    },
  });
});
afterEach(() => server.resetHandlers());
afterAll(() => {
  server.close();
  if (savedLogDebug === undefined) delete process.env.LOG_DEBUG;
  else process.env.LOG_DEBUG = savedLogDebug;
});

const signal = () => new AbortController().signal;

type Op = 'sendMessage' | 'publishPost' | 'findSentMessage' | 'listRelations' | 'sendInvitation';
const WRITES: Op[] = ['sendMessage', 'publishPost', 'sendInvitation'];
const READS: Op[] = ['findSentMessage', 'listRelations'];

function callOp(p: LinkedInProvider, op: Op, s: AbortSignal = signal()): Promise<unknown> {
  switch (op) {
    case 'sendMessage':
      return p.sendMessage({ accountId: ACCOUNT, recipientId: RECIPIENT, text: TEXT }, s);
    case 'publishPost':
      return p.publishPost({ accountId: ACCOUNT, text: TEXT }, s);
    case 'findSentMessage':
      return p.findSentMessage(
        { accountId: ACCOUNT, recipientId: RECIPIENT, text: TEXT, after: new Date('2025-01-01T00:00:00Z') },
        s,
      );
    case 'listRelations':
      return p.listRelations({ accountId: ACCOUNT, cursor: null, limit: 100 }, s);
    case 'sendInvitation':
      return p.sendInvitation({ accountId: ACCOUNT, providerId: RECIPIENT, message: TEXT }, s);
  }
}

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

function unipileError(status: number, type: string | undefined, headers: Record<string, string> = {}) {
  return HttpResponse.json(
    { status, type, title: `Title for ${type ?? status}`, detail: 'Some detail from Unipile.' },
    { status, headers },
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Error mapping
// ---------------------------------------------------------------------------------------------------------------

type ErrorClass = typeof PermanentError | typeof RetryableError | typeof UncertainError | typeof AccountError;
interface Expected {
  cls: ErrorClass;
  code: string;
  retryAfterMs?: number;
  cooldownKey?: boolean;
  accountStatus?: 'disconnected' | 'paused';
}
interface Case {
  status: number;
  type?: string;
  headers?: Record<string, string>;
  write: Expected;
  /** Same as write unless given. */
  read?: Expected;
  /** findSentMessage's first call returns null instead of throwing. */
  findReturnsNull?: boolean;
}

const perm = (type: string): Expected => ({ cls: PermanentError, code: type });
const retry = (code: string, retryAfterMs?: number, cooldownKey = false): Expected => ({
  cls: RetryableError,
  code,
  retryAfterMs,
  cooldownKey,
});

const CASES: Case[] = [
  { status: 400, type: 'errors/invalid_parameters', write: perm('errors/invalid_parameters') },
  { status: 400, type: 'errors/malformed_request', write: perm('errors/malformed_request') },
  ...[
    'errors/invalid_recipient',
    'errors/no_connection_with_recipient',
    'errors/blocked_recipient',
    'errors/user_unreachable',
    'errors/cant_send_message',
    'errors/invalid_message',
    'errors/something_new',
  ].map((type): Case => ({ status: 422, type, write: perm(type) })),
  ...['errors/disconnected_account', 'errors/invalid_credentials', 'errors/expired_credentials'].map(
    (type): Case => ({ status: 401, type, write: { cls: AccountError, code: type, accountStatus: 'disconnected' } }),
  ),
  ...['errors/account_restricted', 'errors/feature_not_subscribed', 'errors/insufficient_permissions'].map(
    (type): Case => ({ status: 403, type, write: { cls: AccountError, code: type, accountStatus: 'paused' } }),
  ),
  { status: 404, type: 'errors/resource_not_found', write: perm('errors/resource_not_found'), findReturnsNull: true },
  {
    status: 429,
    type: 'errors/too_many_requests',
    headers: { 'Retry-After': '7' },
    write: retry('errors/too_many_requests', 7000, true),
  },
  { status: 429, type: 'errors/too_many_requests', write: retry('errors/too_many_requests', undefined, true) },
  // 5xx (B10): a write is retried only for the 503 types Unipile documents as "the request was not carried out"
  // (no session, channel or handler to carry it to LinkedIn, network down, service unavailable); any other 5xx may
  // have reached LinkedIn, so a write is uncertain. Reads are retried.
  {
    status: 500,
    type: 'errors/unexpected_error',
    write: { cls: UncertainError, code: 'errors/unexpected_error' },
    read: retry('errors/unexpected_error'),
  },
  {
    status: 500,
    type: 'errors/provider_error',
    headers: { 'Retry-After': '2' },
    write: { cls: UncertainError, code: 'errors/provider_error' },
    read: retry('errors/provider_error', 2000),
  },
  {
    status: 502,
    type: 'errors/bad_gateway',
    write: { cls: UncertainError, code: 'errors/bad_gateway' },
    read: retry('errors/bad_gateway'),
  },
  {
    status: 503,
    type: 'errors/service_unavailable',
    headers: { 'Retry-After': '30' },
    write: retry('errors/service_unavailable', 30_000),
  },
  ...['errors/no_client_session', 'errors/no_channel', 'errors/no_handler', 'errors/network_down'].map(
    (type): Case => ({ status: 503, type, write: retry(type) }),
  ),
  {
    status: 503,
    type: 'errors/something_new',
    write: { cls: UncertainError, code: 'errors/something_new' },
    read: retry('errors/something_new'),
  },
  { status: 503, type: undefined, write: { cls: UncertainError, code: 'http_503' }, read: retry('http_503') },
  { status: 501, type: undefined, write: perm('http_501') },
  {
    status: 504,
    type: 'errors/request_timeout',
    write: { cls: UncertainError, code: 'errors/request_timeout' },
    read: retry('errors/request_timeout'),
  },
  { status: 409, type: 'errors/conflict', write: perm('errors/conflict') },
  { status: 418, type: undefined, write: perm('http_418') },
  {
    status: 507,
    type: 'errors/insufficient_storage',
    write: { cls: UncertainError, code: 'errors/insufficient_storage' },
    read: retry('errors/insufficient_storage'),
  },
];

const ROWS = CASES.flatMap((c) =>
  [...WRITES, ...READS].map((op) => ({
    name: `${op} ${c.status} ${c.type ?? '(no type)'}${c.headers ? ` ${JSON.stringify(c.headers)}` : ''}`,
    op,
    c,
  })),
);

describe('unipile error mapping', () => {
  test.each(ROWS)('$name', async ({ op, c }) => {
    server.use(http.all(`${BASE}/api/v1/*`, () => unipileError(c.status, c.type, c.headers)));
    if (op === 'findSentMessage' && c.findReturnsNull) {
      await expect(callOp(unipile, op)).resolves.toBeNull();
      return;
    }
    const exp = READS.includes(op) ? (c.read ?? c.write) : c.write;
    const e = await caught(callOp(unipile, op));
    expect(e).toBeInstanceOf(exp.cls);
    const err = e as Error & {
      code?: string;
      retryAfterMs?: number;
      cooldownKey?: boolean;
      accountStatus?: string;
    };
    expect(err.code).toBe(exp.code);
    expect(err.message).toContain(`HTTP ${c.status}`);
    if (c.type) expect(err.message).toContain(`Title for ${c.type}`);
    if (exp.cls === RetryableError) {
      expect(err.retryAfterMs).toBe(exp.retryAfterMs);
      expect(err.cooldownKey).toBe(exp.cooldownKey);
    }
    if (exp.cls === AccountError) expect(err.accountStatus).toBe(exp.accountStatus);
  });

  test('429 with an HTTP-date Retry-After', async () => {
    const at = new Date(Date.now() + 90_000).toUTCString();
    server.use(
      http.post(`${BASE}/api/v1/chats`, () => unipileError(429, 'errors/too_many_requests', { 'Retry-After': at })),
    );
    const e = (await caught(callOp(unipile, 'sendMessage'))) as RetryableError;
    expect(e).toBeInstanceOf(RetryableError);
    expect(e.cooldownKey).toBe(true);
    expect(e.retryAfterMs).toBeGreaterThan(85_000);
    expect(e.retryAfterMs).toBeLessThanOrEqual(90_000);
  });

  // parseRetryAfter's own table (and its 24 h bound) is in tests/retry-after.test.ts; the bound at this edge, over real
  // HTTP, in tests/untrusted-retry-after.test.ts.

  test.each([
    { op: 'sendMessage' as Op, status: 502, cls: UncertainError },
    { op: 'sendMessage' as Op, status: 503, cls: UncertainError },
    { op: 'listRelations' as Op, status: 502, cls: RetryableError },
    { op: 'sendMessage' as Op, status: 404, cls: PermanentError },
    { op: 'publishPost' as Op, status: 504, cls: UncertainError },
    { op: 'sendInvitation' as Op, status: 502, cls: UncertainError },
    { op: 'sendInvitation' as Op, status: 504, cls: UncertainError },
  ])('$op: non-JSON (HTML) $status page is classified by status', async ({ op, status, cls }) => {
    const html = `<html><head><style>body{color:red}</style><title>${status} Error</title></head><body><h1>Bad Gateway</h1><p>nginx</p></body></html>`;
    server.use(http.all(`${BASE}/api/v1/*`, () => HttpResponse.html(html, { status })));
    const e = (await caught(callOp(unipile, op))) as Error & { code?: string };
    expect(e).toBeInstanceOf(cls);
    expect(e.code).toBe(`http_${status}`);
    expect(e.message).toContain(`HTTP ${status}`);
    expect(e.message).toContain('Bad Gateway nginx');
    expect(e.message).not.toContain('<');
    expect(e.message).not.toContain('color:red');
  });

  test('a long HTML error body is cut to 200 characters in the message', async () => {
    server.use(
      http.post(`${BASE}/api/v1/chats`, () => HttpResponse.html(`<p>${'x'.repeat(5000)}</p>`, { status: 503 })),
    );
    const e = (await caught(callOp(unipile, 'sendMessage'))) as Error;
    expect(e).toBeInstanceOf(UncertainError);
    expect(e.message.length).toBeLessThan(300);
  });

  test.each([
    { op: 'sendMessage' as Op, cls: UncertainError },
    { op: 'publishPost' as Op, cls: UncertainError },
    { op: 'sendInvitation' as Op, cls: UncertainError },
    { op: 'listRelations' as Op, cls: RetryableError },
    { op: 'findSentMessage' as Op, cls: RetryableError },
  ])('$op: malformed JSON in a 2xx → $cls.name', async ({ op, cls }) => {
    server.use(
      http.all(
        `${BASE}/api/v1/*`,
        () =>
          new HttpResponse('{"object":"ChatStarted","chat_id":', {
            status: 201,
            headers: { 'content-type': 'application/json' },
          }),
      ),
    );
    const e = (await caught(callOp(unipile, op))) as Error & { code?: string };
    expect(e).toBeInstanceOf(cls);
    expect(e.code).toBe('malformed_response');
    expect(e.message).toContain('not JSON');
  });

  test.each([
    { op: 'sendMessage' as Op, body: { object: 'PostCreated', post_id: 'x' }, cls: UncertainError },
    { op: 'sendMessage' as Op, body: { object: 'ChatStarted', chat_id: 42 }, cls: UncertainError },
    { op: 'publishPost' as Op, body: { object: 'ChatStarted' }, cls: UncertainError },
    { op: 'listRelations' as Op, body: { object: 'UserRelationsList', items: 'nope' }, cls: RetryableError },
    {
      op: 'listRelations' as Op,
      body: { object: 'UserRelationsList', items: [{ first_name: 'No id' }], cursor: null },
      cls: RetryableError,
    },
  ])('$op: 2xx failing the schema ($body.object) → $cls.name', async ({ op, body, cls }) => {
    server.use(
      http.all(`${BASE}/api/v1/*`, () => HttpResponse.json(body, { status: op === 'listRelations' ? 200 : 201 })),
    );
    const e = (await caught(callOp(unipile, op))) as Error & { code?: string };
    expect(e).toBeInstanceOf(cls);
    expect(e.code).toBe('malformed_response');
  });

  test('a 2xx body over 1 MB is not read to the end and counts as malformed', async () => {
    server.use(
      http.post(`${BASE}/api/v1/chats`, () => HttpResponse.text('x'.repeat(1024 * 1024 + 10), { status: 201 })),
    );
    const e = (await caught(callOp(unipile, 'sendMessage'))) as UncertainError;
    expect(e).toBeInstanceOf(UncertainError);
    expect(e.message).toContain('over 1048576 bytes');
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Timeouts, aborts and network errors
// ---------------------------------------------------------------------------------------------------------------

describe('unipile timeouts and network errors', () => {
  test.each([
    { op: 'sendMessage' as Op, cls: UncertainError },
    { op: 'publishPost' as Op, cls: UncertainError },
    { op: 'sendInvitation' as Op, cls: UncertainError },
    { op: 'listRelations' as Op, cls: RetryableError },
    { op: 'findSentMessage' as Op, cls: RetryableError },
  ])('$op: no answer within timeoutMs=200 → $cls.name', async ({ op, cls }) => {
    server.use(
      http.all(`${BASE}/api/v1/*`, async () => {
        await delay(2_000);
        return HttpResponse.json({ object: 'ChatStarted', chat_id: 'c', message_id: 'm' }, { status: 201 });
      }),
    );
    const started = Date.now();
    const e = (await caught(callOp(fastTimeout, op))) as Error & { code?: string };
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(e).toBeInstanceOf(cls);
    expect(e.code).toBe('timeout');
    expect(e.message).toContain('timed out after 200ms');
  });

  test('the caller aborting mid-call makes a send uncertain', async () => {
    server.use(
      http.post(`${BASE}/api/v1/chats`, async () => {
        await delay(2_000);
        return HttpResponse.json({ object: 'ChatStarted', chat_id: 'c', message_id: 'm' }, { status: 201 });
      }),
    );
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const e = (await caught(callOp(unipile, 'sendMessage', ac.signal))) as UncertainError;
    expect(e).toBeInstanceOf(UncertainError);
    expect(e.code).toBe('aborted');
  });

  test('a signal aborted before the call sends nothing and is retryable', async () => {
    let hits = 0;
    server.use(
      http.post(`${BASE}/api/v1/chats`, () => {
        hits++;
        return HttpResponse.json({ object: 'ChatStarted', chat_id: 'c', message_id: 'm' }, { status: 201 });
      }),
    );
    const e = await caught(callOp(unipile, 'sendMessage', AbortSignal.abort()));
    expect(e).toBeInstanceOf(RetryableError);
    expect(hits).toBe(0);
  });

  test('connection refused (a closed local port, no msw handler) → RetryableError for a send', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const addr = s.address();
        s.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
      });
    });
    const p = createUnipileProvider({ dsn: `http://127.0.0.1:${port}`, apiKey: API_KEY, timeoutMs: 5_000 });
    const e = (await caught(callOp(p, 'sendMessage'))) as RetryableError;
    expect(e).toBeInstanceOf(RetryableError);
    expect(e.code).toBe('network/ECONNREFUSED');
  });

  test('http://127.0.0.1:1 (a port fetch refuses before connecting) → RetryableError for a send', async () => {
    const p = createUnipileProvider({ dsn: 'http://127.0.0.1:1', apiKey: API_KEY, timeoutMs: 5_000 });
    const e = (await caught(callOp(p, 'sendMessage'))) as RetryableError;
    expect(e).toBeInstanceOf(RetryableError);
    expect(e.code).toBe('network/BAD_PORT');
  });

  const netError = (code: string) =>
    Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error(`boom ${code}`), { code }) });
  test.each([
    { code: 'ENOTFOUND', op: 'sendMessage' as Op, cls: RetryableError },
    { code: 'EAI_AGAIN', op: 'publishPost' as Op, cls: RetryableError },
    { code: 'ECONNREFUSED', op: 'publishPost' as Op, cls: RetryableError },
    { code: 'ECONNRESET', op: 'sendMessage' as Op, cls: UncertainError },
    { code: 'UND_ERR_SOCKET', op: 'publishPost' as Op, cls: UncertainError },
    { code: 'ECONNREFUSED', op: 'sendInvitation' as Op, cls: RetryableError },
    { code: 'ECONNRESET', op: 'sendInvitation' as Op, cls: UncertainError },
    { code: 'ECONNRESET', op: 'listRelations' as Op, cls: RetryableError },
    { code: 'ECONNRESET', op: 'findSentMessage' as Op, cls: RetryableError },
  ])('fetch failing with cause.code $code on $op → $cls.name', async ({ code, op, cls }) => {
    const p = createUnipileProvider({
      dsn: DSN,
      apiKey: API_KEY,
      timeoutMs: 5_000,
      fetch: async () => {
        throw netError(code);
      },
    });
    const e = await caught(callOp(p, op));
    expect(e).toBeInstanceOf(cls);
  });

  test('connection errors wrapped in an AggregateError (happy eyeballs) are recognised', async () => {
    const agg = new AggregateError([Object.assign(new Error('a'), { code: 'ECONNREFUSED' })], 'connect failed');
    const p = createUnipileProvider({
      dsn: DSN,
      apiKey: API_KEY,
      timeoutMs: 5_000,
      fetch: async () => {
        throw Object.assign(new TypeError('fetch failed'), { cause: agg });
      },
    });
    expect(await caught(callOp(p, 'sendMessage'))).toBeInstanceOf(RetryableError);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Success paths
// ---------------------------------------------------------------------------------------------------------------

describe('unipile success paths', () => {
  test('sendMessage posts multipart/form-data with the API key and returns the ids', async () => {
    let seen: { contentType: string | null; apiKey: string | null; accept: string | null; fields: unknown } | undefined;
    server.use(
      http.post(`${BASE}/api/v1/chats`, async ({ request }) => {
        const form = await request.formData();
        seen = {
          contentType: request.headers.get('content-type'),
          apiKey: request.headers.get('x-api-key'),
          accept: request.headers.get('accept'),
          fields: Object.fromEntries(form.entries()),
        };
        return HttpResponse.json({ object: 'ChatStarted', chat_id: 'chat_1', message_id: 'msg_1' }, { status: 201 });
      }),
    );
    await expect(callOp(unipile, 'sendMessage')).resolves.toEqual({ chatId: 'chat_1', messageId: 'msg_1' });
    // A boundary is present, so fetch (not our code) wrote the header.
    expect(seen?.contentType).toMatch(/^multipart\/form-data; boundary=/);
    expect(seen?.apiKey).toBe(API_KEY);
    expect(seen?.accept).toBe('application/json');
    expect(seen?.fields).toEqual({ account_id: ACCOUNT, attendees_ids: RECIPIENT, text: TEXT });
  });

  test('sendMessage accepts null ids', async () => {
    server.use(
      http.post(`${BASE}/api/v1/chats`, () =>
        HttpResponse.json({ object: 'ChatStarted', chat_id: null, message_id: null }, { status: 201 }),
      ),
    );
    await expect(callOp(unipile, 'sendMessage')).resolves.toEqual({ chatId: null, messageId: null });
  });

  test('publishPost posts multipart/form-data and returns the post id', async () => {
    let fields: unknown;
    let contentType: string | null = null;
    server.use(
      http.post(`${BASE}/api/v1/posts`, async ({ request }) => {
        contentType = request.headers.get('content-type');
        expect(request.headers.get('x-api-key')).toBe(API_KEY);
        fields = Object.fromEntries((await request.formData()).entries());
        return HttpResponse.json({ object: 'PostCreated', post_id: '7123' }, { status: 201 });
      }),
    );
    await expect(callOp(unipile, 'publishPost')).resolves.toEqual({ postId: '7123' });
    expect(contentType).toMatch(/^multipart\/form-data; boundary=/);
    expect(fields).toEqual({ account_id: ACCOUNT, text: TEXT });
  });

  test('the dsn scheme: https by default, http kept', async () => {
    expect(unipileBaseUrl('api1.unipile.com:13111')).toBe('https://api1.unipile.com:13111');
    expect(unipileBaseUrl('http://localhost:8080/')).toBe('http://localhost:8080');
    expect(unipileBaseUrl('https://api1.unipile.com:13111')).toBe('https://api1.unipile.com:13111');
    const p = createUnipileProvider({ dsn: 'http://unipile.local:8080', apiKey: API_KEY, timeoutMs: 5_000 });
    server.use(
      http.post('http://unipile.local:8080/api/v1/posts', () =>
        HttpResponse.json({ object: 'PostCreated', post_id: null }, { status: 201 }),
      ),
    );
    await expect(callOp(p, 'publishPost')).resolves.toEqual({ postId: null });
  });

  test('findSentMessage finds our message in the recipient chats', async () => {
    const requested: string[] = [];
    server.use(
      http.get(`${BASE}/api/v1/chat_attendees/:attendee/chats`, ({ request, params }) => {
        expect(params.attendee).toBe(RECIPIENT);
        expect(new URL(request.url).searchParams.get('account_id')).toBe(ACCOUNT);
        expect(request.headers.get('x-api-key')).toBe(API_KEY);
        return HttpResponse.json({ object: 'ChatList', items: [{ id: 'chat_a' }, { id: 'chat_b' }], cursor: null });
      }),
      http.get(`${BASE}/api/v1/chats/:chat/messages`, ({ request, params }) => {
        requested.push(String(params.chat));
        expect(new URL(request.url).searchParams.get('after')).toBe('2025-01-01T00:00:00.000Z');
        if (params.chat === 'chat_a') {
          return HttpResponse.json({
            object: 'MessageList',
            items: [
              { id: 'm1', text: TEXT, is_sender: 0, timestamp: '2025-01-02T00:00:00.000Z' },
              { id: 'm2', text: 'something else', is_sender: 1, timestamp: '2025-01-02T00:00:00.000Z' },
            ],
            cursor: null,
          });
        }
        return HttpResponse.json({
          object: 'MessageList',
          items: [{ id: 'm3', text: `  ${TEXT}\n`, is_sender: true, timestamp: '2025-01-02T00:00:00.000Z' }],
          cursor: null,
        });
      }),
    );
    await expect(callOp(unipile, 'findSentMessage')).resolves.toEqual({ chatId: 'chat_b', messageId: 'm3' });
    expect(requested).toEqual(['chat_a', 'chat_b']);
  });

  test('findSentMessage returns null when no chat has it, looking at 5 chats at most', async () => {
    let messageCalls = 0;
    server.use(
      http.get(`${BASE}/api/v1/chat_attendees/:attendee/chats`, () =>
        HttpResponse.json({
          object: 'ChatList',
          items: Array.from({ length: 8 }, (_, i) => ({ id: `chat_${i}`, extra: { nested: true } })),
          cursor: 'next',
        }),
      ),
      http.get(`${BASE}/api/v1/chats/:chat/messages`, () => {
        messageCalls++;
        return HttpResponse.json({
          object: 'MessageList',
          items: [{ id: 'x', text: TEXT, is_sender: 0, timestamp: null }],
          cursor: null,
        });
      }),
    );
    await expect(callOp(unipile, 'findSentMessage')).resolves.toBeNull();
    expect(messageCalls).toBe(5);
  });

  test('findSentMessage returns null when the recipient has no chat (404)', async () => {
    server.use(
      http.get(`${BASE}/api/v1/chat_attendees/:attendee/chats`, () => unipileError(404, 'errors/resource_not_found')),
    );
    await expect(callOp(unipile, 'findSentMessage')).resolves.toBeNull();
  });

  test('listRelations pages through the cursor and maps the fields', async () => {
    const seenCursors: (string | null)[] = [];
    server.use(
      http.get(`${BASE}/api/v1/users/relations`, ({ request }) => {
        const q = new URL(request.url).searchParams;
        expect(q.get('account_id')).toBe(ACCOUNT);
        expect(q.get('limit')).toBe('2');
        seenCursors.push(q.get('cursor'));
        if (!q.has('cursor')) {
          return HttpResponse.json({
            object: 'UserRelationsList',
            items: [
              {
                object: 'UserRelation',
                member_id: 'ACoA1',
                first_name: 'Ada',
                last_name: 'Lovelace',
                headline: 'Analyst',
                public_identifier: 'ada-lovelace',
                created_at: 1_735_689_600_000,
                member_urn: 'urn:li:member:1',
              },
              { member_id: 'ACoA2', first_name: 'Grace', created_at: '2025-01-02T03:04:05Z' },
            ],
            cursor: 'cur2',
          });
        }
        return HttpResponse.json({
          object: 'UserRelationsList',
          items: [
            { member_id: 'ACoA3', first_name: null, last_name: null, headline: null, created_at: 'garbage' },
            { first_name: 'Nobody' },
          ],
          cursor: null,
        });
      }),
    );
    const page1 = await unipile.listRelations({ accountId: ACCOUNT, cursor: null, limit: 2 }, signal());
    expect(page1).toEqual({
      items: [
        {
          memberId: 'ACoA1',
          name: 'Ada Lovelace',
          headline: 'Analyst',
          publicIdentifier: 'ada-lovelace',
          connectedAt: '2025-01-01T00:00:00.000Z',
        },
        {
          memberId: 'ACoA2',
          name: 'Grace',
          headline: null,
          publicIdentifier: null,
          connectedAt: '2025-01-02T03:04:05.000Z',
        },
      ],
      cursor: 'cur2',
    });
    const page2 = await unipile.listRelations({ accountId: ACCOUNT, cursor: page1.cursor, limit: 2 }, signal());
    expect(page2).toEqual({
      items: [{ memberId: 'ACoA3', name: null, headline: null, publicIdentifier: null, connectedAt: null }],
      cursor: null,
    });
    expect(seenCursors).toEqual([null, 'cur2']);
  });

  test('one debug line per call, without the text or the API key', async () => {
    server.use(
      http.post(`${BASE}/api/v1/chats`, () =>
        HttpResponse.json({ object: 'ChatStarted', chat_id: 'c', message_id: 'm' }, { status: 201 }),
      ),
    );
    const before = capturedLogs().length;
    await callOp(unipile, 'sendMessage');
    const lines = capturedLogs().slice(before);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'debug',
      provider: 'unipile',
      op: 'sendMessage',
      method: 'POST',
      path: '/api/v1/chats',
      status: 201,
    });
    expect(typeof lines[0]?.durationMs).toBe('number');
    const raw = JSON.stringify(lines);
    expect(raw).not.toContain(TEXT);
    expect(raw).not.toContain(API_KEY);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Invitations
// ---------------------------------------------------------------------------------------------------------------

describe('unipile sendInvitation', () => {
  const INVITE = `${BASE}/api/v1/users/invite`;
  const invite = (message: string | null, p: LinkedInProvider = unipile, s: AbortSignal = signal()) =>
    p.sendInvitation({ accountId: ACCOUNT, providerId: RECIPIENT, message }, s);
  const sent = (body: Record<string, unknown> = {}, status = 200) =>
    HttpResponse.json({ object: 'UserInvitationSent', invitation_id: 'inv_7224673722165518336', ...body }, { status });

  test.each([
    { name: 'with a note', message: TEXT, body: { provider_id: RECIPIENT, account_id: ACCOUNT, message: TEXT } },
    { name: 'without a note (null is left out)', message: null, body: { provider_id: RECIPIENT, account_id: ACCOUNT } },
  ])('posts JSON to /api/v1/users/invite $name', async ({ message, body }) => {
    let seen:
      | { method: string; path: string; search: string; headers: Record<string, string | null>; body: unknown }
      | undefined;
    server.use(
      http.all(`${BASE}/api/v1/*`, async ({ request }) => {
        const url = new URL(request.url);
        seen = {
          method: request.method,
          path: url.pathname,
          search: url.search,
          headers: {
            'content-type': request.headers.get('content-type'),
            'x-api-key': request.headers.get('x-api-key'),
            accept: request.headers.get('accept'),
          },
          body: await request.json(),
        };
        return sent();
      }),
    );
    await expect(invite(message)).resolves.toEqual({ invitationId: 'inv_7224673722165518336' });
    expect(seen).toEqual({
      method: 'POST',
      path: '/api/v1/users/invite',
      search: '',
      headers: { 'content-type': 'application/json', 'x-api-key': API_KEY, accept: 'application/json' },
      body,
    });
  });

  test.each([
    { name: '200 with usage', status: 200, body: { usage: 50 }, invitationId: 'inv_7224673722165518336' },
    { name: '201', status: 201, body: {}, invitationId: 'inv_7224673722165518336' },
    { name: 'a null invitation_id', status: 200, body: { invitation_id: null }, invitationId: null },
    { name: 'no invitation_id', status: 200, body: { invitation_id: undefined }, invitationId: null },
    {
      name: 'unknown extra keys',
      status: 200,
      body: { usage: 'n/a', extra: { x: 1 } },
      invitationId: 'inv_7224673722165518336',
    },
  ])('success: $name', async ({ status, body, invitationId }) => {
    server.use(http.post(INVITE, () => sent(body, status)));
    await expect(invite(TEXT)).resolves.toEqual({ invitationId });
  });

  test('logs the usage of the invitation limit Unipile reports, a warning from 90 %', async () => {
    server.use(http.post(INVITE, () => sent({ usage: 90 })));
    const before = capturedLogs().length;
    await invite(TEXT);
    const lines = capturedLogs()
      .slice(before)
      .filter((l) => l.msg === 'unipile invitation limit usage');
    expect(lines).toEqual([expect.objectContaining({ level: 'warn', op: 'sendInvitation', usagePercent: 90 })]);
  });

  test('one debug line per call, without the note or the API key', async () => {
    server.use(http.post(INVITE, () => sent()));
    const before = capturedLogs().length;
    await invite(TEXT);
    const lines = capturedLogs().slice(before);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'debug',
        op: 'sendInvitation',
        method: 'POST',
        path: '/api/v1/users/invite',
        status: 200,
      }),
    ]);
    const raw = JSON.stringify(lines);
    expect(raw).not.toContain(TEXT);
    expect(raw).not.toContain(API_KEY);
  });

  interface InviteCase {
    status: number;
    type?: string;
    headers?: Record<string, string>;
    cls: ErrorClass;
    code: string;
    retryAfterMs?: number;
    cooldownKey?: boolean;
    accountStatus?: 'disconnected' | 'paused';
    /** Part of the message (the reason added for known invitation refusals). */
    says?: string;
  }
  const INVITE_CASES: InviteCase[] = [
    // The invitee cannot be invited (again): permanent.
    ...(
      [
        ['errors/already_invited_recently', 'already pending or was sent recently'],
        ['errors/already_connected', 'already a 1st-degree connection'],
        ['errors/cannot_invite_attendee', 'does not allow inviting this person'],
      ] as const
    ).map(([type, says]): InviteCase => ({ status: 422, type, cls: PermanentError, code: type, says })),
    ...[
      'errors/invalid_recipient',
      'errors/not_allowed_inmail',
      'errors/user_unreachable',
      'errors/blocked_recipient',
      'errors/invalid_account',
      'errors/unprocessable_entity',
    ].map((type): InviteCase => ({ status: 422, type, cls: PermanentError, code: type })),
    { status: 422, cls: PermanentError, code: 'http_422' },
    {
      status: 400,
      type: 'errors/too_many_characters',
      cls: PermanentError,
      code: 'errors/too_many_characters',
      says: 'over 300 characters',
    },
    { status: 400, type: 'errors/invalid_parameters', cls: PermanentError, code: 'errors/invalid_parameters' },
    { status: 404, type: 'errors/resource_not_found', cls: PermanentError, code: 'errors/resource_not_found' },
    // LinkedIn's invitation limits: not taken effect, retry later and cool the account down.
    ...['errors/cannot_resend_yet', 'errors/cannot_resend_within_24hrs', 'errors/limit_exceeded'].map(
      (type): InviteCase => ({
        status: 422,
        type,
        cls: RetryableError,
        code: type,
        retryAfterMs: undefined,
        cooldownKey: true,
        says: 'invitation limit',
      }),
    ),
    {
      status: 422,
      type: 'errors/limit_exceeded',
      headers: { 'Retry-After': '3600' },
      cls: RetryableError,
      code: 'errors/limit_exceeded',
      retryAfterMs: 3_600_000,
      cooldownKey: true,
    },
    {
      status: 429,
      type: 'errors/too_many_requests',
      headers: { 'Retry-After': '7' },
      cls: RetryableError,
      code: 'errors/too_many_requests',
      retryAfterMs: 7000,
      cooldownKey: true,
    },
    {
      status: 429,
      type: 'errors/too_many_requests',
      cls: RetryableError,
      code: 'errors/too_many_requests',
      retryAfterMs: undefined,
      cooldownKey: true,
    },
    // The account is at fault.
    ...['errors/disconnected_account', 'errors/expired_credentials', 'errors/checkpoint_error'].map(
      (type): InviteCase => ({ status: 401, type, cls: AccountError, code: type, accountStatus: 'disconnected' }),
    ),
    ...['errors/feature_not_subscribed', 'errors/account_restricted'].map(
      (type): InviteCase => ({ status: 403, type, cls: AccountError, code: type, accountStatus: 'paused' }),
    ),
    // Unipile's own failures, as for sendMessage.
    { status: 500, type: 'errors/provider_error', cls: UncertainError, code: 'errors/provider_error' },
    {
      status: 503,
      type: 'errors/no_client_session',
      headers: { 'Retry-After': '30' },
      cls: RetryableError,
      code: 'errors/no_client_session',
      retryAfterMs: 30_000,
      cooldownKey: false,
    },
    { status: 504, type: 'errors/request_timeout', cls: UncertainError, code: 'errors/request_timeout' },
  ];

  test.each(
    INVITE_CASES.map((c) => ({
      ...c,
      name: `${c.status} ${c.type ?? '(no type)'}${c.headers ? ` ${JSON.stringify(c.headers)}` : ''}`,
    })),
  )('$name → $cls.name $code', async (c) => {
    server.use(http.post(INVITE, () => unipileError(c.status, c.type, c.headers)));
    const e = (await caught(invite(TEXT))) as Error & {
      code?: string;
      retryAfterMs?: number;
      cooldownKey?: boolean;
      accountStatus?: string;
    };
    expect(e).toBeInstanceOf(c.cls);
    expect(e.code).toBe(c.code);
    expect(e.message).toContain(`Unipile sendInvitation failed with HTTP ${c.status}`);
    if (c.type) expect(e.message).toContain(`Title for ${c.type}`);
    if (c.says) expect(e.message).toContain(c.says);
    if (c.cls === RetryableError) {
      expect(e.retryAfterMs).toBe(c.retryAfterMs);
      expect(e.cooldownKey).toBe(c.cooldownKey);
    }
    if (c.cls === AccountError) expect(e.accountStatus).toBe(c.accountStatus);
  });

  test('the invitation limit types stay permanent for other operations (sendMessage)', async () => {
    server.use(http.post(`${BASE}/api/v1/chats`, () => unipileError(422, 'errors/cannot_resend_yet')));
    const e = (await caught(callOp(unipile, 'sendMessage'))) as PermanentError;
    expect(e).toBeInstanceOf(PermanentError);
    expect(e.code).toBe('errors/cannot_resend_yet');
  });

  test.each([
    { name: 'an empty body', reply: () => new HttpResponse(null, { status: 200 }), says: 'not JSON' },
    { name: 'another object', reply: () => HttpResponse.json({ object: 'ChatStarted', chat_id: 'c' }), says: 'object' },
    { name: 'a numeric invitation_id', reply: () => sent({ invitation_id: 42 }), says: 'invitation_id' },
    { name: 'a JSON array', reply: () => HttpResponse.json([{ object: 'UserInvitationSent' }]), says: '(root)' },
  ])('a 2xx with $name is uncertain (it probably went out)', async ({ reply, says }) => {
    server.use(http.post(INVITE, reply));
    const e = (await caught(invite(TEXT))) as UncertainError;
    expect(e).toBeInstanceOf(UncertainError);
    expect(e.code).toBe('malformed_response');
    expect(e.message).toContain('Unipile sendInvitation returned HTTP 200');
    expect(e.message).toContain(says);
  });

  test('no answer within the timeout is uncertain; an already aborted signal sends nothing and is retryable', async () => {
    let hits = 0;
    server.use(
      http.post(INVITE, async () => {
        hits++;
        await delay(2_000);
        return sent();
      }),
    );
    const e = (await caught(invite(TEXT, fastTimeout))) as UncertainError;
    expect(e).toBeInstanceOf(UncertainError);
    expect(e.code).toBe('timeout');
    expect(e.message).toContain('it may have taken effect');
    expect(hits).toBe(1);
    const aborted = (await caught(invite(TEXT, unipile, AbortSignal.abort()))) as RetryableError;
    expect(aborted).toBeInstanceOf(RetryableError);
    expect(aborted.code).toBe('aborted');
    expect(hits).toBe(1);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Sandbox
// ---------------------------------------------------------------------------------------------------------------

describe('sandbox provider', () => {
  const sandbox = () => createSandboxProvider({ latencyMs: 5 });
  const send = (p: LinkedInProvider, recipientId: string, s = signal(), accountId = 'acc_sb') =>
    p.sendMessage({ accountId, recipientId, text: TEXT }, s);

  test('succeeds with generated ids and remembers what it sent', async () => {
    const p = sandbox();
    const started = new Date(Date.now() - 1);
    const sent = await send(p, 'ACoA_ok');
    expect(sent.chatId).toMatch(/^sandbox_chat_\d+$/);
    expect(sent.messageId).toMatch(/^sandbox_msg_\d+$/);
    const find = (text: string, after: Date, recipientId = 'ACoA_ok') =>
      p.findSentMessage({ accountId: 'acc_sb', recipientId, text, after }, signal());
    await expect(find(` ${TEXT} `, started)).resolves.toEqual(sent);
    await expect(find('other text', started)).resolves.toBeNull();
    await expect(find(TEXT, new Date(Date.now() + 60_000))).resolves.toBeNull();
    await expect(find(TEXT, started, 'ACoA_other')).resolves.toBeNull();
    expect(p.timeoutMs).toBe(5 * 3 + 5000);
    expect(p.name).toBe('sandbox');
  });

  test('invalid… recipients fail permanently', async () => {
    const e = (await caught(send(sandbox(), 'invalid_42'))) as PermanentError;
    expect(e).toBeInstanceOf(PermanentError);
    expect(e.code).toBe('errors/invalid_recipient');
  });

  test('flaky… recipients fail once (503) then succeed', async () => {
    const p = sandbox();
    const e = (await caught(send(p, 'flaky_1'))) as RetryableError;
    expect(e).toBeInstanceOf(RetryableError);
    expect(e.cooldownKey).toBe(false);
    await expect(send(p, 'flaky_1')).resolves.toMatchObject({ messageId: expect.stringMatching(/^sandbox_msg_/) });
    expect(await caught(send(p, 'flaky_2'))).toBeInstanceOf(RetryableError);
  });

  test('ratelimit… recipients get a 429 with a 60 s cooldown of the account', async () => {
    const e = (await caught(send(sandbox(), 'ratelimit_1'))) as RetryableError;
    expect(e).toBeInstanceOf(RetryableError);
    expect(e.retryAfterMs).toBe(60_000);
    expect(e.cooldownKey).toBe(true);
  });

  test('slow… recipients take 3× the latency', async () => {
    const p = createSandboxProvider({ latencyMs: 40 });
    const started = performance.now();
    await send(p, 'slow_1');
    expect(performance.now() - started).toBeGreaterThanOrEqual(110);
  });

  test('disconnected… accounts raise AccountError for every call', async () => {
    const p = sandbox();
    for (const call of [
      send(p, 'ACoA_ok', signal(), 'disconnected_acc'),
      p.publishPost({ accountId: 'disconnected_acc', text: TEXT }, signal()),
      p.listRelations({ accountId: 'disconnected_acc', cursor: null, limit: 50 }, signal()),
      p.findSentMessage({ accountId: 'disconnected_acc', recipientId: 'x', text: TEXT, after: new Date() }, signal()),
      p.sendInvitation({ accountId: 'disconnected_acc', providerId: 'ACoA_ok', message: null }, signal()),
    ]) {
      const e = (await caught(call)) as AccountError;
      expect(e).toBeInstanceOf(AccountError);
      expect(e.accountStatus).toBe('disconnected');
    }
  });

  test('aborting a send mid-call is uncertain; an already aborted signal is retryable', async () => {
    const p = createSandboxProvider({ latencyMs: 300 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 20);
    const started = performance.now();
    const e = await caught(send(p, 'ACoA_abort', ac.signal));
    expect(e).toBeInstanceOf(UncertainError);
    expect(performance.now() - started).toBeLessThan(150);
    // Aborted in the first half: nothing was sent.
    await expect(
      p.findSentMessage({ accountId: 'acc_sb', recipientId: 'ACoA_abort', text: TEXT, after: new Date(0) }, signal()),
    ).resolves.toBeNull();
    expect(await caught(send(p, 'ACoA_abort', AbortSignal.abort()))).toBeInstanceOf(RetryableError);
    expect(await caught(p.publishPost({ accountId: 'acc_sb', text: TEXT }, AbortSignal.timeout(10)))).toBeInstanceOf(
      UncertainError,
    );
  });

  test('publishPost succeeds unless the text contains #fail', async () => {
    const p = sandbox();
    await expect(p.publishPost({ accountId: 'acc_sb', text: TEXT }, signal())).resolves.toEqual({
      postId: expect.stringMatching(/^sandbox_post_\d+$/),
    });
    expect(await caught(p.publishPost({ accountId: 'acc_sb', text: `${TEXT} #fail` }, signal()))).toBeInstanceOf(
      PermanentError,
    );
  });

  test('listRelations: 3 deterministic pages of 50', async () => {
    const p = sandbox();
    const pages: (string | null)[] = [];
    const ids: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Awaited<ReturnType<LinkedInProvider['listRelations']>> = await p.listRelations(
        { accountId: 'acc_sb', cursor, limit: 50 },
        signal(),
      );
      expect(page.items).toHaveLength(50);
      ids.push(...page.items.map((r) => r.memberId));
      cursor = page.cursor;
      pages.push(cursor);
    } while (cursor);
    expect(pages).toEqual(['p2', 'p3', null]);
    expect(new Set(ids).size).toBe(150);
    const again = await sandbox().listRelations({ accountId: 'acc_sb', cursor: 'p2', limit: 50 }, signal());
    expect(again.items.map((r) => r.memberId)).toEqual(ids.slice(50, 100));
    expect(again.items[0]).toMatchObject({ name: expect.any(String), connectedAt: expect.any(String) });
  });

  test('logs one info line per send, never the text', async () => {
    const p = sandbox();
    const before = capturedLogs().length;
    await send(p, 'ACoA_log');
    await caught(send(p, 'invalid_log'));
    const lines = capturedLogs()
      .slice(before)
      .filter((l) => l.provider === 'sandbox');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ level: 'info', op: 'sendMessage', recipientId: 'ACoA_log', outcome: 'sent' });
    expect(lines[1]).toMatchObject({ op: 'sendMessage', recipientId: 'invalid_log', outcome: 'permanent' });
    expect(typeof lines[0]?.latencyMs).toBe('number');
    expect(JSON.stringify(capturedLogs())).not.toContain(TEXT);
  });

  describe('sendInvitation', () => {
    const inviteSb = (p: LinkedInProvider, providerId: string, message: string | null = TEXT, s = signal()) =>
      p.sendInvitation({ accountId: 'acc_sb', providerId, message }, s);

    test('succeeds with a generated id; inviting the same person again is already_invited_recently', async () => {
      const p = sandbox();
      await expect(inviteSb(p, 'ACoA_new', null)).resolves.toEqual({
        invitationId: expect.stringMatching(/^sandbox_invitation_\d+$/),
      });
      const again = (await caught(inviteSb(p, 'ACoA_new'))) as PermanentError;
      expect(again).toBeInstanceOf(PermanentError);
      expect(again.code).toBe('errors/already_invited_recently');
      // Another account may still invite them.
      await expect(
        p.sendInvitation({ accountId: 'acc_other', providerId: 'ACoA_new', message: null }, signal()),
      ).resolves.toMatchObject({ invitationId: expect.any(String) });
    });

    test.each([
      { providerId: 'invalid_1', cls: PermanentError, code: 'errors/invalid_recipient' },
      { providerId: 'pending_1', cls: PermanentError, code: 'errors/already_invited_recently' },
      { providerId: 'ratelimit_1', cls: RetryableError, code: 'errors/too_many_requests' },
      { providerId: 'weeklylimit_1', cls: RetryableError, code: 'errors/cannot_resend_yet' },
    ])('$providerId → $cls.name $code', async ({ providerId, cls, code }) => {
      const e = (await caught(inviteSb(sandbox(), providerId))) as Error & {
        code?: string;
        cooldownKey?: boolean;
        retryAfterMs?: number;
      };
      expect(e).toBeInstanceOf(cls);
      expect(e.code).toBe(code);
      if (cls === RetryableError) expect(e.cooldownKey).toBe(true);
      if (providerId.startsWith('ratelimit')) expect(e.retryAfterMs).toBe(60_000);
      if (providerId.startsWith('weeklylimit')) expect(e.retryAfterMs).toBeUndefined();
    });

    test('flaky… invitees fail once (503) then succeed, counted apart from messages', async () => {
      const p = sandbox();
      await send(p, 'flaky_inv').catch(() => {});
      const e = (await caught(inviteSb(p, 'flaky_inv'))) as RetryableError;
      expect(e).toBeInstanceOf(RetryableError);
      expect(e.code).toBe('http_503');
      expect(e.cooldownKey).toBe(false);
      await expect(inviteSb(p, 'flaky_inv')).resolves.toMatchObject({ invitationId: expect.any(String) });
    });

    test('a note over 300 characters is refused; 300 (astral characters counted once) is fine', async () => {
      const p = sandbox();
      const e = (await caught(inviteSb(p, 'ACoA_long', 'x'.repeat(301)))) as PermanentError;
      expect(e).toBeInstanceOf(PermanentError);
      expect(e.code).toBe('errors/too_many_characters');
      await expect(inviteSb(p, 'ACoA_300', '😀'.repeat(300))).resolves.toMatchObject({
        invitationId: expect.any(String),
      });
    });

    test('aborting in the first half sends nothing (a retry succeeds); an aborted signal is retryable', async () => {
      const p = createSandboxProvider({ latencyMs: 300 });
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 20);
      expect(await caught(inviteSb(p, 'ACoA_abort', TEXT, ac.signal))).toBeInstanceOf(UncertainError);
      expect(await caught(inviteSb(p, 'ACoA_abort', TEXT, AbortSignal.abort()))).toBeInstanceOf(RetryableError);
      await expect(inviteSb(p, 'ACoA_abort')).resolves.toMatchObject({ invitationId: expect.any(String) });
    });

    test('logs one info line per invitation, never the note', async () => {
      const p = sandbox();
      const before = capturedLogs().length;
      await inviteSb(p, 'ACoA_loginv');
      await caught(inviteSb(p, 'pending_log'));
      const lines = capturedLogs()
        .slice(before)
        .filter((l) => l.provider === 'sandbox');
      expect(lines).toEqual([
        expect.objectContaining({ level: 'info', op: 'sendInvitation', providerId: 'ACoA_loginv', outcome: 'invited' }),
        expect.objectContaining({ op: 'sendInvitation', providerId: 'pending_log', outcome: 'permanent' }),
      ]);
      expect(JSON.stringify(lines)).not.toContain(TEXT);
    });
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Provider selection
// ---------------------------------------------------------------------------------------------------------------

describe('getProvider', () => {
  afterEach(() => setProvider(undefined));

  test('sandbox without credentials, cached per process', () => {
    const p = getProvider({ SANDBOX_LATENCY_MS: '10' });
    expect(p.name).toBe('sandbox');
    expect(p.timeoutMs).toBe(10 * 3 + 5000);
    expect(getProvider({ UNIPILE_DSN: DSN, UNIPILE_API_KEY: API_KEY })).toBe(p);
  });

  test('unipile when both variables are set, timeout from UNIPILE_TIMEOUT_MS', () => {
    expect(getProvider({ UNIPILE_DSN: DSN, UNIPILE_API_KEY: API_KEY }).timeoutMs).toBe(15_000);
    setProvider(undefined);
    const p = getProvider({ UNIPILE_DSN: DSN, UNIPILE_API_KEY: API_KEY, UNIPILE_TIMEOUT_MS: '2500' });
    expect(p.name).toBe('unipile');
    expect(p.timeoutMs).toBe(2500);
  });

  test.each(['0', '-5', 'abc', '1.5'])('UNIPILE_TIMEOUT_MS=%s is rejected', (value) => {
    expect(() => getProvider({ UNIPILE_DSN: DSN, UNIPILE_API_KEY: API_KEY, UNIPILE_TIMEOUT_MS: value })).toThrow(
      /UNIPILE_TIMEOUT_MS/,
    );
  });

  test('setProvider overrides', () => {
    const fake = createSandboxProvider({ latencyMs: 1 });
    setProvider(fake);
    expect(getProvider()).toBe(fake);
  });
});
