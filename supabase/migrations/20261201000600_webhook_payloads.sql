-- dm.failed and post.failed carry `errorCode` and a fixed `reason` instead of the (redacted) error text (issue 12, B3).
--
-- Why not redact better: the text is the provider's, and a provider may echo the body in any form (whitespace
-- collapsed, tags stripped, NFKC-normalised, JSON-escaped, truncated, translated); no redaction of free text can be
-- shown to catch every one. So nothing of the error text is copied, with one bounded exception:
--   * `reason` is one of the constant strings below, chosen from the code's class. No input text is ever copied
--     into it (the only variable is the attempt count, an integer), so it cannot contain the body: safe by
--     construction.
--   * `errorCode` is the code the settle prefixed to last_error (the provider's `type`, e.g. errors/invalid_recipient,
--     or ours, e.g. http_503). It is passed only when it is an identifier (at most two segments of [A-Za-z0-9_], 48
--     characters each: no whitespace or punctuation, so no sentence fits) and every one of its words (split at `/`
--     and `_`) is either a word of the public error-code vocabulary below, a number of at most 3 digits, or a string
--     that occurs nowhere in the body, compared without case, accents, width or punctuation (NFKD, then only ASCII
--     letters and digits: "Köln", "ＫÖＬＮ" and "k-ö-l-n" all compare as "koln"). A code that carries anything else
--     of the body, whole or glued together ("errors/zanzibar_marmaladeoffer"), is dropped (null); its reason stays.
-- The operator keeps the full text in last_error; only what leaves the database is restricted.

-- Superseded by the two functions below; no payload calls it any more, and it must not be reused (it matched the
-- body only with its whitespace unchanged).
drop function if exists public.webhook_redact(text, text);

-- The code at the start of last_error ("code: …", or "gave up after N attempts: code: …"), when safe to pass on.
create or replace function public.webhook_error_code(p_last_error text, p_body text) returns text
language plpgsql immutable as $$
declare
  v_code text := substring(p_last_error from
    '^(?:gave up after [0-9]+ attempts: )?([A-Za-z0-9_]{1,48}(?:/[A-Za-z0-9_]{1,48})?): ');
  v_body text := lower(regexp_replace(normalize(coalesce(p_body, ''), NFKD), '[^A-Za-z0-9]', '', 'g'));
  v_word text;
begin
  if v_code is null then return null; end if;
  foreach v_word in array regexp_split_to_array(lower(v_code), '[/_]+') loop
    -- The words Unipile's documented types and our own codes are made of: public, so they carry nothing of a body
    -- even when the body happens to contain them ("your message", "my account").
    continue when v_word = '' or v_word ~ '^[0-9]{1,3}$' or v_word = any (array[
      'errors', 'error', 'api', 'provider', 'invalid', 'recipient', 'parameters', 'malformed', 'request', 'requests',
      'too', 'many', 'characters', 'content', 'large', 'message', 'post', 'cant', 'cannot', 'send', 'blocked', 'user',
      'unreachable', 'no', 'not', 'connection', 'with', 'connected', 'already', 'invited', 'recently', 'invite',
      'attendee', 'resend', 'yet', 'within', '24hrs', 'limit', 'exceeded', 'disconnected', 'account', 'credentials',
      'expired', 'restricted', 'feature', 'subscribed', 'insufficient', 'permissions', 'resource', 'found',
      'unsupported', 'media', 'unexpected', 'service', 'unavailable', 'network', 'down', 'client', 'session',
      'channel', 'handler', 'authentication', 'authorization', 'intent', 'timeout', 'http', 'aborted', 'missing',
      'refused', 'target', 'url', 'secret', 'cursor', 'loop', 'dns', 'empty', 'response', 'conflict']);
    if position(v_word in v_body) > 0 then return null; end if;
  end loop;
  return v_code;
end $$;

-- A fixed, generic reason for a failed DM or post, from last_error's code class; never any of its text.
create or replace function public.webhook_failure_reason(p_last_error text) returns text
language sql immutable as $$
  with c as (
    select substring(p_last_error from '^gave up after ([0-9]{1,4}) attempts: ') as gave_up,
           lower(coalesce(substring(p_last_error from
             '^(?:gave up after [0-9]+ attempts: )?([A-Za-z0-9_]{1,48}(?:/[A-Za-z0-9_]{1,48})?): '), '')) as code
  )
  select case
    when c.gave_up is not null then 'gave up after ' || c.gave_up::integer || ' attempts of temporary errors'
    when c.code ~ '(recipient|unreachable|no_connection|not_connected|blocked)' then 'the recipient cannot be reached'
    when c.code ~ '(too_many_characters|too_large|invalid_message|invalid_post|content|media)'
      then 'the provider refused the content'
    when c.code ~ '(disconnected|credentials|permission|restricted|subscribed|account)'
      then 'the account cannot do this at the provider'
    when c.code ~ '(invalid|malformed)' then 'the provider refused the request as invalid'
    when c.code ~ '^(http_5|network|timeout|dns|aborted)' then 'the provider could not be reached'
    when c.code ~ '^(errors/|http_4)' then 'the provider refused the request'
    else 'the request failed'
  end
  from c;
$$;

create or replace function public.webhook_on_dm_status() returns trigger
language plpgsql as $$
begin
  -- Most deployments have no endpoint: skip building the payload for every row.
  if not exists (select 1 from public.webhook_endpoints e where e.enabled) then return null; end if;
  if new.status = 'sent' then
    perform public.webhook_enqueue('dm.sent', jsonb_build_object(
      'dmId', new.id, 'accountId', new.account_id, 'recipientId', new.recipient_id, 'status', new.status,
      'providerMessageId', new.provider_message_id, 'providerChatId', new.provider_chat_id,
      'attempts', new.attempts, 'sentAt', public.webhook_iso(new.sent_at)), coalesce(new.sent_at, now()));
  elsif new.status = 'failed' then
    perform public.webhook_enqueue('dm.failed', jsonb_build_object(
      'dmId', new.id, 'accountId', new.account_id, 'recipientId', new.recipient_id, 'status', new.status,
      'errorCode', public.webhook_error_code(new.last_error, new.body),
      'reason', public.webhook_failure_reason(new.last_error), 'attempts', new.attempts,
      'failedAt', public.webhook_iso(new.failed_at)), coalesce(new.failed_at, now()));
  end if;
  return null;
end $$;

create or replace function public.webhook_on_post_status() returns trigger
language plpgsql as $$
begin
  -- Most deployments have no endpoint: skip building the payload for every row.
  if not exists (select 1 from public.webhook_endpoints e where e.enabled) then return null; end if;
  if new.status = 'published' then
    perform public.webhook_enqueue('post.published', jsonb_build_object(
      'postId', new.id, 'accountId', new.account_id, 'status', new.status, 'providerPostId', new.provider_post_id,
      'attempts', new.attempts, 'publishedAt', public.webhook_iso(new.published_at)), coalesce(new.published_at, now()));
  elsif new.status = 'failed' then
    perform public.webhook_enqueue('post.failed', jsonb_build_object(
      'postId', new.id, 'accountId', new.account_id, 'status', new.status,
      'errorCode', public.webhook_error_code(new.last_error, new.content),
      'reason', public.webhook_failure_reason(new.last_error), 'attempts', new.attempts,
      'failedAt', public.webhook_iso(new.failed_at)), coalesce(new.failed_at, now()));
  end if;
  return null;
end $$;

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
