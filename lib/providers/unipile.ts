/**
 * LinkedIn through the Unipile v1 REST API. Every HTTP outcome is turned into one of the typed errors of
 * lib/cron/errors.ts here, so the jobs never look at statuses. The guiding rule for writes (send, publish, invite):
 * only say "retry" when the request is known not to have taken effect; anything that may have reached Unipile is
 * "uncertain".
 */
import { z } from 'zod';
import { type JobError, PermanentError, RetryableError, UncertainError } from '../cron/errors.ts';
import { parseRetryAfter } from '../http/retry-after.ts';
import { log } from '../log.ts';
import { AccountError } from '../providers/errors.ts';
import { noteHttpStatus } from '../telemetry/index.ts';
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

export interface UnipileOptions {
  /** e.g. `api1.unipile.com:13111`; https:// is assumed unless a scheme is given. */
  dsn: string;
  apiKey: string;
  /** Upper bound of one HTTP call, body included. */
  timeoutMs: number;
  /** Defaults to the global fetch, looked up at call time (so test interceptors installed later still apply). */
  fetch?: typeof fetch;
}

/** Response bodies larger than this are not read further. */
const MAX_BODY_BYTES = 1024 * 1024;
/** findSentMessage looks into at most this many chats with the recipient. */
const MAX_CHATS_SEARCHED = 5;

/** Network error codes raised before a single byte of the request could reach the server. */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_NONAME',
  'EAI_FAIL',
  'EAI_NODATA',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  // undici refuses ports on the fetch spec's blocklist (e.g. 1, 25, 6000) before connecting, with no error code.
  'BAD_PORT',
]);

type Op = 'sendMessage' | 'publishPost' | 'findSentMessage' | 'listRelations' | 'sendInvitation';
/** Writes may have taken effect when the outcome is unknown; reads never matter. */
type Kind = 'write' | 'read';

interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
  truncated: boolean;
}

// ---- response schemas (lenient: unknown keys are accepted, only what we use is checked) ----

const nullableId = z.string().nullish();

const ChatStarted = z.looseObject({
  object: z.literal('ChatStarted'),
  chat_id: nullableId,
  message_id: nullableId,
});

const PostCreated = z.looseObject({
  object: z.literal('PostCreated'),
  post_id: nullableId,
});

const UserInvitationSent = z.looseObject({
  object: z.literal('UserInvitationSent'),
  invitation_id: nullableId,
  /** Percentage of LinkedIn's invitation limit used; Unipile sends it only when passing 50, 75, 90 or 95. */
  usage: z.number().nullish().catch(null),
});

const ChatList = z.looseObject({
  object: z.literal('ChatList').optional(),
  items: z.array(z.looseObject({ id: z.string().min(1) })),
  cursor: z.unknown().optional(),
});

const MessageList = z.looseObject({
  object: z.literal('MessageList').optional(),
  items: z.array(
    z.looseObject({
      id: z.string().min(1),
      text: z.string().nullish(),
      is_sender: z.union([z.boolean(), z.number()]).nullish(),
      timestamp: z.string().nullish(),
    }),
  ),
  cursor: z.unknown().optional(),
});

const RelationsEnvelope = z.looseObject({
  object: z.literal('UserRelationsList').optional(),
  items: z.array(z.unknown()),
  cursor: z.string().nullish(),
});

const optionalText = z.string().nullish().catch(null);

const RelationItem = z.looseObject({
  member_id: z.string().min(1),
  first_name: optionalText,
  last_name: optionalText,
  headline: optionalText,
  public_identifier: optionalText,
  created_at: z.union([z.string(), z.number()]).nullish().catch(null),
});

/**
 * The success bodies of the write calls, checked by hand: a 2xx that is exactly what the schema accepts (no zod on a
 * send's hot path). Anything else — a wrong `object`, an id that is not a string, a non-object — returns undefined and
 * goes through the schema, which classifies it and names the problem as before.
 */
type Fast<T> = (json: unknown) => T | undefined;
const isNullableId = (v: unknown) => v === undefined || v === null || typeof v === 'string';
function asObject(json: unknown, object: string): Record<string, unknown> | undefined {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return undefined;
  const o = json as Record<string, unknown>;
  return o.object === object ? o : undefined;
}
const chatStartedFast: Fast<z.infer<typeof ChatStarted>> = (json) => {
  const o = asObject(json, 'ChatStarted');
  return o && isNullableId(o.chat_id) && isNullableId(o.message_id) ? (o as z.infer<typeof ChatStarted>) : undefined;
};
const postCreatedFast: Fast<z.infer<typeof PostCreated>> = (json) => {
  const o = asObject(json, 'PostCreated');
  return o && isNullableId(o.post_id) ? (o as z.infer<typeof PostCreated>) : undefined;
};
const invitationSentFast: Fast<z.infer<typeof UserInvitationSent>> = (json) => {
  const o = asObject(json, 'UserInvitationSent');
  const usage = o?.usage;
  const usageOk = usage === undefined || usage === null || (typeof usage === 'number' && Number.isFinite(usage));
  return o && usageOk && isNullableId(o.invitation_id) ? (o as z.infer<typeof UserInvitationSent>) : undefined;
};

/** Each write's success schema beside its hand check; exported for tests (the check must never accept what the schema refuses). */
export const SUCCESS_SHAPES = [
  { name: 'ChatStarted', schema: ChatStarted, fast: chatStartedFast },
  { name: 'PostCreated', schema: PostCreated, fast: postCreatedFast },
  { name: 'UserInvitationSent', schema: UserInvitationSent, fast: invitationSentFast },
] as const;

const ErrorBody = z.looseObject({
  title: z.string().optional().catch(undefined),
  detail: z.string().optional().catch(undefined),
  type: z.string().optional().catch(undefined),
});

/**
 * The 503 types of Unipile's v1 reference (POST /api/v1/chats, /api/v1/users/invite, the same list on every endpoint):
 * "No client session is currently running", "No channel to client session", "Handler missing for that request",
 * "Network is down on server side. Please wait a moment and retry", "Please try again later". Each says the request
 * found nothing to carry it to LinkedIn, so a write answered with one of them did not take effect and is retried.
 * 500 (unexpected_error "Something went wrong", provider_error "The provider is experiencing operational problems")
 * says nothing of the kind. Evidence: docs/guarantees.md, "Unipile 5xx".
 */
const NOT_CARRIED_OUT_503 = new Set([
  'errors/no_client_session',
  'errors/no_channel',
  'errors/no_handler',
  'errors/network_down',
  'errors/service_unavailable',
]);

// ---- invitation error types (POST /api/v1/users/invite answers them with 422) ----

/**
 * About the account's LinkedIn invitation quota, not the invitee: Unipile's detail for `cannot_resend_yet` is "You have
 * reached a temporary provider limit", which is also what LinkedIn's weekly invitation limit looks like. Not taken
 * effect, so retry later, and stop inviting from this account for the run.
 */
const INVITE_LIMIT_TYPES = new Set([
  'errors/cannot_resend_yet',
  'errors/cannot_resend_within_24hrs',
  'errors/limit_exceeded',
]);

/** About the invitee: inviting them again cannot succeed (they stay permanent, as every other 4xx); the reason is added. */
const INVITE_REFUSALS: Record<string, string> = {
  'errors/already_invited_recently': 'an invitation to this person is already pending or was sent recently',
  'errors/already_connected': 'this person is already a 1st-degree connection',
  'errors/cannot_invite_attendee': 'LinkedIn does not allow inviting this person',
  'errors/too_many_characters': `the invitation note is over ${INVITATION_MESSAGE_MAX_CHARS} characters`,
};

// ---- helpers ----

/** `api1.unipile.com:13111` → `https://api1.unipile.com:13111`; an explicit http:// or https:// is kept. */
export function unipileBaseUrl(dsn: string): string {
  const trimmed = dsn.trim().replace(/\/+$/, '');
  if (!trimmed) throw new Error('UNIPILE_DSN is empty');
  return /^https?:\/\//i.test(trimmed) ? trimmed : `https://${trimmed}`;
}

/** Unipile's Retry-After, bounded like every other (lib/http/retry-after.ts: at most 24 h, garbage ignored). */
function retryAfterOf(res: Pick<RawResponse, 'headers'>): number | undefined {
  return parseRetryAfter(res.headers.get('retry-after'), Date.now());
}

/** Error codes along the cause chain, AggregateError members included (Node's happy-eyeballs connect errors). */
function errorCodes(e: unknown, depth = 0): string[] {
  if (depth > 5 || e === null || typeof e !== 'object') return [];
  const out: string[] = [];
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string') out.push(code);
  else if (e instanceof Error && e.message === 'bad port') out.push('BAD_PORT');
  if (e instanceof AggregateError) for (const inner of e.errors) out.push(...errorCodes(inner, depth + 1));
  out.push(...errorCodes((e as { cause?: unknown }).cause, depth + 1));
  return out;
}

function stripTags(s: string): string {
  return s
    .replace(/<(script|style)[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

async function readCapped(res: Response, cap: number): Promise<{ text: string; truncated: boolean }> {
  if (!res.body) return { text: '', truncated: false };
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (size + value.byteLength > cap) {
      chunks.push(value.subarray(0, cap - size));
      truncated = true;
      await reader.cancel().catch(() => {});
      break;
    }
    chunks.push(value);
    size += value.byteLength;
  }
  const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let offset = 0;
  for (const c of chunks) {
    bytes.set(c, offset);
    offset += c.byteLength;
  }
  return { text: new TextDecoder().decode(bytes), truncated };
}

function toIso(value: string | number | null | undefined): string | null {
  if (value == null || value === '') return null;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

function joinName(first: string | null | undefined, last: string | null | undefined): string | null {
  const name = [first, last]
    .map((s) => s?.trim())
    .filter(Boolean)
    .join(' ');
  return name || null;
}

/** The typed error for a non-2xx response. Exported for tests and for callers with special cases. */
export function errorForStatus(op: Op, kind: Kind, res: Pick<RawResponse, 'status' | 'headers' | 'text'>): JobError {
  const { status } = res;
  let parsed: z.infer<typeof ErrorBody> | undefined;
  try {
    const json: unknown = JSON.parse(res.text);
    const r = ErrorBody.safeParse(json);
    if (r.success) parsed = r.data;
  } catch {
    parsed = undefined;
  }
  const type = parsed?.type;
  const code = type || `http_${status}`;
  const what = parsed
    ? [type, parsed.title, parsed.detail].filter(Boolean).join(': ') || stripTags(res.text).slice(0, 200)
    : stripTags(res.text).slice(0, 200);
  const invite = op === 'sendInvitation';
  const reason = invite && type ? INVITE_REFUSALS[type] : undefined;
  const message = `Unipile ${op} failed with HTTP ${status}${what ? ` (${what})` : ''}${reason ? `: ${reason}` : ''}`;

  if (status === 401) return new AccountError(message, { code, accountStatus: 'disconnected' });
  if (status === 403) return new AccountError(message, { code, accountStatus: 'paused' });
  if (status === 429) {
    return new RetryableError(message, {
      code,
      retryAfterMs: retryAfterOf(res),
      cooldownKey: true,
    });
  }
  if (invite && status >= 400 && status < 500 && type && INVITE_LIMIT_TYPES.has(type)) {
    return new RetryableError(`${message}: LinkedIn's invitation limit for this account`, {
      code,
      retryAfterMs: retryAfterOf(res),
      cooldownKey: true,
    });
  }
  // Unipile documents 501 as "Requested feature is planned but has not been implemented yet": nothing happened, and
  // nothing will until it is.
  if (status === 501) return new PermanentError(message, { code });
  if (status >= 500) {
    // A write is retried only when Unipile says it was not carried out (NOT_CARRIED_OUT_503); any other 5xx (500
    // unexpected_error / provider_error, 502, 504 request_timeout, an untyped gateway page) may have reached LinkedIn.
    if (kind === 'write' && !(status === 503 && type !== undefined && NOT_CARRIED_OUT_503.has(type))) {
      return new UncertainError(`${message}; it may have taken effect`, { code });
    }
    return new RetryableError(message, { code, retryAfterMs: retryAfterOf(res) });
  }
  if (status >= 400) return new PermanentError(message, { code });
  // 1xx/3xx (a redirect means a misconfigured DSN): the request was not processed.
  return new RetryableError(message, { code });
}

// ---- the provider ----

export function createUnipileProvider(options: UnipileOptions): LinkedInProvider {
  const base = unipileBaseUrl(options.dsn);
  const { apiKey, timeoutMs } = options;
  if (!apiKey) throw new Error('Unipile API key is empty');
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new Error(`invalid Unipile timeoutMs: ${timeoutMs}`);
  const doFetch: typeof fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));

  async function call(
    op: Op,
    kind: Kind,
    method: 'GET' | 'POST',
    path: string,
    query: Record<string, string | number | null | undefined>,
    /** multipart/form-data, or a plain object sent as JSON. */
    body: FormData | Record<string, unknown> | undefined,
    signal: AbortSignal,
  ): Promise<RawResponse> {
    const url = new URL(base + path);
    for (const [k, v] of Object.entries(query)) if (v != null) url.searchParams.set(k, String(v));

    if (signal.aborted) {
      // Nothing has left the process yet.
      throw new RetryableError(`Unipile ${op} aborted before the request was sent`, {
        code: 'aborted',
        cause: signal.reason,
      });
    }
    const combined = AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]);
    const started = performance.now();
    let status: number | null = null;
    const json = body !== undefined && !(body instanceof FormData);
    try {
      const res = await doFetch(url, {
        method,
        // For FormData no content-type: fetch sets multipart/form-data with the boundary itself.
        headers: {
          'X-API-KEY': apiKey,
          accept: 'application/json',
          ...(json ? { 'content-type': 'application/json' } : {}),
        },
        body: json ? JSON.stringify(body) : body,
        signal: combined,
        redirect: 'manual',
      });
      status = res.status;
      const { text, truncated } = await readCapped(res, MAX_BODY_BYTES);
      return { status: res.status, headers: res.headers, text, truncated };
    } catch (e) {
      throw networkError(op, kind, e, combined, signal, status);
    } finally {
      noteHttpStatus(status);
      log('debug', 'unipile call', {
        provider: 'unipile',
        op,
        method,
        path,
        status,
        durationMs: Math.round(performance.now() - started),
      });
    }
  }

  function networkError(
    op: Op,
    kind: Kind,
    e: unknown,
    combined: AbortSignal,
    callerSignal: AbortSignal,
    status: number | null,
  ): JobError {
    const phase = status == null ? '' : ` while reading the HTTP ${status} response`;
    if (combined.aborted) {
      const why = callerSignal.aborted ? 'aborted' : `timed out after ${timeoutMs}ms`;
      const code = callerSignal.aborted ? 'aborted' : 'timeout';
      const message = `Unipile ${op} ${why}${phase}`;
      return kind === 'write'
        ? new UncertainError(`${message}; it may have taken effect`, { code, cause: e })
        : new RetryableError(message, { code, cause: e });
    }
    const codes = errorCodes(e);
    const detail = codes.length ? ` (${codes.join(', ')})` : '';
    const baseMessage = `Unipile ${op} network error${phase}: ${e instanceof Error ? e.message : String(e)}${detail}`;
    const notSent = status == null && codes.some((c) => NOT_SENT_CODES.has(c));
    if (notSent)
      return new RetryableError(baseMessage, { code: `network/${codes.find((c) => NOT_SENT_CODES.has(c))}`, cause: e });
    if (kind === 'read') return new RetryableError(baseMessage, { code: 'network', cause: e });
    return new UncertainError(`${baseMessage}; it may have taken effect`, { code: 'network', cause: e });
  }

  /** The 2xx body validated by `schema`, or the typed error for anything else. */
  function parseOk<T>(op: Op, kind: Kind, res: RawResponse, schema: z.ZodType<T>, fast?: Fast<T>): T {
    if (res.status < 200 || res.status > 299) throw errorForStatus(op, kind, res);
    const problem = (why: string): JobError => {
      const message = `Unipile ${op} returned HTTP ${res.status} with ${why}`;
      return kind === 'write'
        ? new UncertainError(`${message}; it probably took effect but the ids are unknown`, {
            code: 'malformed_response',
          })
        : new RetryableError(message, { code: 'malformed_response' });
    };
    if (res.truncated) throw problem(`a body over ${MAX_BODY_BYTES} bytes`);
    let json: unknown;
    try {
      json = JSON.parse(res.text);
    } catch {
      throw problem('a body that is not JSON');
    }
    const quick = fast?.(json);
    if (quick !== undefined) return quick;
    const r = schema.safeParse(json);
    if (!r.success) {
      const issue = r.error.issues[0];
      throw problem(
        `an unexpected body (${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'})`,
      );
    }
    return r.data;
  }

  return {
    name: 'unipile',
    timeoutMs,

    async sendMessage(input: SendMessageInput, signal: AbortSignal): Promise<SentMessage> {
      const form = new FormData();
      form.append('account_id', input.accountId);
      form.append('attendees_ids', input.recipientId);
      form.append('text', input.text);
      const res = await call('sendMessage', 'write', 'POST', '/api/v1/chats', {}, form, signal);
      const body = parseOk('sendMessage', 'write', res, ChatStarted, chatStartedFast);
      return { chatId: body.chat_id ?? null, messageId: body.message_id ?? null };
    },

    async publishPost(input: PublishPostInput, signal: AbortSignal): Promise<{ postId: string | null }> {
      const form = new FormData();
      form.append('account_id', input.accountId);
      form.append('text', input.text);
      const res = await call('publishPost', 'write', 'POST', '/api/v1/posts', {}, form, signal);
      const body = parseOk('publishPost', 'write', res, PostCreated, postCreatedFast);
      return { postId: body.post_id ?? null };
    },

    async findSentMessage(input: FindSentMessageInput, signal: AbortSignal): Promise<SentMessage | null> {
      const op = 'findSentMessage';
      const chatsRes = await call(
        op,
        'read',
        'GET',
        `/api/v1/chat_attendees/${encodeURIComponent(input.recipientId)}/chats`,
        { account_id: input.accountId },
        undefined,
        signal,
      );
      if (chatsRes.status === 404) return null; // no chat with this attendee
      const chats = parseOk(op, 'read', chatsRes, ChatList);
      const wanted = input.text.trim();
      for (const chat of chats.items.slice(0, MAX_CHATS_SEARCHED)) {
        const res = await call(
          op,
          'read',
          'GET',
          `/api/v1/chats/${encodeURIComponent(chat.id)}/messages`,
          { after: input.after.toISOString() },
          undefined,
          signal,
        );
        if (res.status === 404) continue; // the chat vanished in between
        const messages = parseOk(op, 'read', res, MessageList);
        const found = messages.items.find((m) => Boolean(m.is_sender) && (m.text ?? '').trim() === wanted);
        if (found) return { chatId: chat.id, messageId: found.id };
      }
      return null;
    },

    async listRelations(
      input: { accountId: string; cursor: string | null; limit: number },
      signal: AbortSignal,
    ): Promise<RelationsPage> {
      const op = 'listRelations';
      const res = await call(
        op,
        'read',
        'GET',
        '/api/v1/users/relations',
        { account_id: input.accountId, limit: input.limit, cursor: input.cursor },
        undefined,
        signal,
      );
      const page = parseOk(op, 'read', res, RelationsEnvelope);
      const items: Relation[] = [];
      let dropped = 0;
      for (const raw of page.items) {
        const r = RelationItem.safeParse(raw);
        if (!r.success) {
          dropped++;
          continue;
        }
        items.push({
          memberId: r.data.member_id,
          name: joinName(r.data.first_name, r.data.last_name),
          headline: r.data.headline?.trim() || null,
          publicIdentifier: r.data.public_identifier || null,
          connectedAt: toIso(r.data.created_at),
        });
      }
      if (dropped > 0) {
        // A page where nothing is usable means the response shape changed: do not silently sync nothing.
        if (items.length === 0) {
          throw new RetryableError(`Unipile ${op} returned ${dropped} relations without member_id`, {
            code: 'malformed_response',
          });
        }
        log('warn', 'unipile relations without member_id skipped', { provider: 'unipile', op, dropped });
      }
      return { items, cursor: page.cursor || null };
    },

    async sendInvitation(input: SendInvitationInput, signal: AbortSignal): Promise<SentInvitation> {
      const op = 'sendInvitation';
      const body: Record<string, unknown> = { provider_id: input.providerId, account_id: input.accountId };
      if (input.message !== null) body.message = input.message;
      const res = await call(op, 'write', 'POST', '/api/v1/users/invite', {}, body, signal);
      const sent = parseOk(op, 'write', res, UserInvitationSent, invitationSentFast);
      if (sent.usage != null) {
        log(sent.usage >= 90 ? 'warn' : 'info', 'unipile invitation limit usage', {
          provider: 'unipile',
          op,
          usagePercent: sent.usage,
        });
      }
      return { invitationId: sent.invitation_id ?? null };
    },
  };
}
