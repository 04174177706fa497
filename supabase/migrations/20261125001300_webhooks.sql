-- Outbound webhooks (Standard Webhooks). Events are written to an outbox, webhook_deliveries, by AFTER UPDATE OF status
-- triggers on dm_queue, posts and sync_jobs: in the same transaction as the status change, so an event is never lost
-- and never emitted for a change that rolled back, and no settle function had to change. jobs/webhooks.ts delivers due
-- rows with retries (the engine's backoff), then settles each batch in one statement.

create table public.webhook_endpoints (
  id uuid primary key default gen_random_uuid(),
  url text not null
    constraint webhook_endpoints_url_http check (url ~* '^https?://[^/?#[:space:]]+' and length(url) <= 2048),
  -- A Standard Webhooks secret: `whsec_` + base64 of 24 to 64 random bytes. Signing uses the decoded bytes.
  secret text not null
    constraint webhook_endpoints_secret_format check (
      secret ~ '^whsec_[A-Za-z0-9+/]+={0,2}$' and (length(secret) - 6) % 4 = 0 and length(secret) between 38 and 94),
  events text[] not null
    default array['dm.sent', 'dm.failed', 'post.published', 'post.failed', 'sync.completed']
    constraint webhook_endpoints_events_known check (
      cardinality(events) >= 1
      and events <@ array['dm.sent', 'dm.failed', 'post.published', 'post.failed', 'sync.completed']::text[]),
  enabled boolean not null default true,
  -- Messages that ended 'failed' in a row (a delivered one resets it); at the limit the endpoint is disabled.
  consecutive_failures integer not null default 0,
  disabled_at timestamptz,
  disabled_reason text,
  -- Engine-managed: claim rotation across endpoints, and the last run in which a delivery to it failed (that run
  -- sends it nothing more, so one dead endpoint cannot eat a run's budget).
  claimed_at timestamptz,
  failed_run_id uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create trigger webhook_endpoints_updated_at before update on public.webhook_endpoints
  for each row execute function public.set_updated_at();

create table public.webhook_deliveries (
  id uuid primary key default gen_random_uuid(),
  endpoint_id uuid not null references public.webhook_endpoints (id) on delete cascade,
  event_type text not null,
  -- The `webhook-id` header: one per event (shared by its endpoints), the same on every attempt, so receivers dedupe.
  msg_id text not null,
  -- { type, timestamp, data }: ids, statuses, provider ids and error texts; never a DM body or a post's content.
  payload jsonb not null,
  status text not null default 'pending'
    constraint webhook_deliveries_status_valid check (status in ('pending', 'delivering', 'delivered', 'failed')),
  attempts integer not null default 0 constraint webhook_deliveries_attempts_nonneg check (attempts >= 0),
  -- null = due at once; set by a retry's backoff.
  next_attempt_at timestamptz,
  attempted_at timestamptz,
  lease_until timestamptz,
  run_id uuid,
  -- The receiver's last HTTP status (null when there was no answer).
  response_status integer,
  last_error text,
  delivered_at timestamptz,
  failed_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint webhook_deliveries_one_per_endpoint unique (endpoint_id, msg_id)
);

create trigger webhook_deliveries_updated_at before update on public.webhook_deliveries
  for each row execute function public.set_updated_at();

-- The claim path, per endpoint in due order; and expired leases of killed runs.
create index webhook_deliveries_pending_due on public.webhook_deliveries (endpoint_id, next_attempt_at nulls first, created_at, id)
  where status = 'pending';
create index webhook_deliveries_delivering_lease on public.webhook_deliveries (endpoint_id, lease_until)
  where status = 'delivering';
create index webhook_deliveries_failed on public.webhook_deliveries (updated_at desc) where status = 'failed';

alter table public.webhook_endpoints enable row level security;
alter table public.webhook_deliveries enable row level security;
revoke all on public.webhook_endpoints, public.webhook_deliveries from anon, authenticated;
grant all on public.webhook_endpoints, public.webhook_deliveries to service_role;

-- ISO 8601 in UTC with milliseconds, whatever the session's TimeZone (jsonb would use the session's offset).
create or replace function public.webhook_iso(p_at timestamptz) returns text
language sql immutable as $$
  select to_char(p_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');
$$;

-- An error text without the message body it may quote (a provider can echo the request in its error): the body is
-- replaced, and a truncated echo (anything from the body's first 24 characters on) is cut off.
create or replace function public.webhook_redact(p_text text, p_body text) returns text
language plpgsql immutable as $$
declare
  v text;
  v_at integer;
begin
  if p_text is null or coalesce(p_body, '') = '' then return p_text; end if;
  v := replace(p_text, p_body, '[redacted]');
  if length(p_body) >= 24 then
    v_at := position(left(p_body, 24) in v);
    if v_at > 0 then v := left(v, v_at - 1) || '[redacted]'; end if;
  end if;
  return v;
end $$;

-- Writes one delivery per enabled endpoint subscribed to p_type, all with one message id. Returns how many. Called by
-- the status triggers below (so inside the transaction of the change); callable for custom events too.
create or replace function public.webhook_enqueue(p_type text, p_data jsonb, p_at timestamptz default now())
returns integer
language plpgsql volatile as $$
declare
  v_msg text := 'msg_' || replace(gen_random_uuid()::text, '-', '');
  n integer;
begin
  insert into public.webhook_deliveries (endpoint_id, event_type, msg_id, payload)
  select e.id, p_type, v_msg,
         jsonb_build_object('type', p_type, 'timestamp', public.webhook_iso(p_at), 'data', p_data)
    from public.webhook_endpoints e
   where e.enabled and p_type = any (e.events);
  get diagnostics n = row_count;
  return n;
end $$;

create or replace function public.webhook_on_dm_status() returns trigger
language plpgsql as $$
begin
  if new.status = 'sent' then
    perform public.webhook_enqueue('dm.sent', jsonb_build_object(
      'dmId', new.id, 'accountId', new.account_id, 'recipientId', new.recipient_id, 'status', new.status,
      'providerMessageId', new.provider_message_id, 'providerChatId', new.provider_chat_id,
      'attempts', new.attempts, 'sentAt', public.webhook_iso(new.sent_at)), coalesce(new.sent_at, now()));
  elsif new.status = 'failed' then
    perform public.webhook_enqueue('dm.failed', jsonb_build_object(
      'dmId', new.id, 'accountId', new.account_id, 'recipientId', new.recipient_id, 'status', new.status,
      'error', public.webhook_redact(new.last_error, new.body), 'attempts', new.attempts,
      'failedAt', public.webhook_iso(new.failed_at)), coalesce(new.failed_at, now()));
  end if;
  return null;
end $$;

create or replace function public.webhook_on_post_status() returns trigger
language plpgsql as $$
begin
  if new.status = 'published' then
    perform public.webhook_enqueue('post.published', jsonb_build_object(
      'postId', new.id, 'accountId', new.account_id, 'status', new.status, 'providerPostId', new.provider_post_id,
      'attempts', new.attempts, 'publishedAt', public.webhook_iso(new.published_at)), coalesce(new.published_at, now()));
  elsif new.status = 'failed' then
    perform public.webhook_enqueue('post.failed', jsonb_build_object(
      'postId', new.id, 'accountId', new.account_id, 'status', new.status,
      'error', public.webhook_redact(new.last_error, new.content), 'attempts', new.attempts,
      'failedAt', public.webhook_iso(new.failed_at)), coalesce(new.failed_at, now()));
  end if;
  return null;
end $$;

create or replace function public.webhook_on_sync_status() returns trigger
language plpgsql as $$
begin
  perform public.webhook_enqueue('sync.completed', jsonb_build_object(
    'syncJobId', new.id, 'accountId', new.account_id, 'kind', new.kind, 'status', new.status,
    'pages', new.pages, 'items', new.items, 'finishedAt', public.webhook_iso(new.finished_at)),
    coalesce(new.finished_at, now()));
  return null;
end $$;

-- AFTER triggers see the committed-to-be row and run in its transaction: a rollback takes the delivery rows with it.
-- `update of status` + WHEN: only an actual change to an event's status writes anything.
create trigger dm_queue_webhooks after update of status on public.dm_queue
  for each row when (new.status is distinct from old.status and new.status in ('sent', 'failed'))
  execute function public.webhook_on_dm_status();

create trigger posts_webhooks after update of status on public.posts
  for each row when (new.status is distinct from old.status and new.status in ('published', 'failed'))
  execute function public.webhook_on_post_status();

create trigger sync_jobs_webhooks after update of status on public.sync_jobs
  for each row when (new.status is distinct from old.status and new.status = 'completed')
  execute function public.webhook_on_sync_status();

-- Claims up to p_limit due deliveries (pending and due, or delivering with an expired lease: a killed run's message
-- is sent again, which Standard Webhooks receivers dedupe by webhook-id) of enabled endpoints, at most p_per_endpoint
-- per endpoint, endpoints least recently served first. Endpoints that failed earlier in this run are skipped.
create or replace function public.claim_webhook_deliveries(
  p_limit integer,
  p_lease_seconds integer,
  p_run_id uuid default null,
  p_per_endpoint integer default 10,
  p_now timestamptz default now()
) returns table (
  id uuid, endpoint_id uuid, url text, secret text, msg_id text, event_type text, payload jsonb, attempts integer
)
language sql volatile as $$
  with endpoints as (
    select e.id from public.webhook_endpoints e
     where e.enabled
       and (p_run_id is null or e.failed_run_id is distinct from p_run_id)
       and (exists (select 1 from public.webhook_deliveries d
                     where d.endpoint_id = e.id and d.status = 'pending'
                       and (d.next_attempt_at is null or d.next_attempt_at <= p_now))
            or exists (select 1 from public.webhook_deliveries d
                        where d.endpoint_id = e.id and d.status = 'delivering' and d.lease_until <= p_now))
     order by e.claimed_at nulls first, e.id
     limit greatest(p_limit, 0)
  ),
  picked as (
    select p.id
      from endpoints e
      cross join lateral (
        select d.id from public.webhook_deliveries d
         where d.endpoint_id = e.id
           and ((d.status = 'pending' and (d.next_attempt_at is null or d.next_attempt_at <= p_now))
                or (d.status = 'delivering' and d.lease_until <= p_now))
         order by d.next_attempt_at nulls first, d.created_at, d.id
         limit greatest(p_per_endpoint, 1)
         for update of d skip locked
      ) p
     limit greatest(p_limit, 0)
  ),
  claimed as (
    update public.webhook_deliveries d
       set status = 'delivering', attempts = d.attempts + 1, attempted_at = p_now,
           lease_until = p_now + make_interval(secs => p_lease_seconds), run_id = p_run_id
      from picked
     where d.id = picked.id
    returning d.id, d.endpoint_id, d.msg_id, d.event_type, d.payload, d.attempts, d.created_at
  ),
  touched as (
    update public.webhook_endpoints e set claimed_at = p_now
     where e.id in (select c.endpoint_id from claimed c)
  )
  select c.id, c.endpoint_id, e.url, e.secret, c.msg_id, c.event_type, c.payload, c.attempts
    from claimed c join public.webhook_endpoints e on e.id = c.endpoint_id
   order by c.created_at, c.id;
$$;

-- Records a batch of delivery outcomes in one statement. Each element of p_outcomes:
--   { id, outcome: delivered|retry|failed|release, error?, httpStatus?, retryAfterMs? }
-- retry (any non-2xx, a timeout, a network error): back to 'pending' after the backoff, 'failed' once attempts reach
-- the maximum. failed: at once (a refused target). release: claimed but not started; no attempt spent.
-- Per endpoint: a delivered message resets consecutive_failures, each message that ends 'failed' adds one, and at
-- p_disable_after (0 = never) the endpoint is disabled with the reason. Only rows this run holds are settled.
create or replace function public.settle_webhook_deliveries(
  p_run_id uuid,
  p_outcomes jsonb,
  p_max_attempts integer default 5,
  p_backoff_seconds integer[] default array[60, 300, 1800, 21600],
  p_disable_after integer default 5,
  p_now timestamptz default now()
) returns table (id uuid, endpoint_id uuid, status text, outcome text)
language sql volatile as $$
  with o as (
    select x.id, x.outcome, left(coalesce(nullif(x.error, ''), x.outcome), 1000) as error,
           x."httpStatus" as http_status, x."retryAfterMs" as retry_after_ms
      from jsonb_to_recordset(p_outcomes) as x(
        id uuid, outcome text, error text, "httpStatus" integer, "retryAfterMs" bigint)
  ),
  settled as (
    update public.webhook_deliveries d
       set status = case
             when o.outcome = 'delivered' then 'delivered'
             when o.outcome = 'failed' then 'failed'
             when o.outcome = 'retry' and d.attempts >= p_max_attempts then 'failed'
             else 'pending'
           end,
           delivered_at = case when o.outcome = 'delivered' then p_now else d.delivered_at end,
           failed_at = case when o.outcome = 'failed' or (o.outcome = 'retry' and d.attempts >= p_max_attempts)
                            then p_now else d.failed_at end,
           attempts = case when o.outcome = 'release' then greatest(d.attempts - 1, 0) else d.attempts end,
           attempted_at = case when o.outcome = 'release' then null else d.attempted_at end,
           next_attempt_at = case
             -- Retry-After is honoured, but never beyond the last backoff step.
             when o.outcome = 'retry' and d.attempts < p_max_attempts then
               p_now + make_interval(secs => greatest(
                 p_backoff_seconds[least(greatest(d.attempts, 1), cardinality(p_backoff_seconds))],
                 least(coalesce(o.retry_after_ms, 0) / 1000.0, p_backoff_seconds[cardinality(p_backoff_seconds)])))
             when o.outcome = 'release' then d.next_attempt_at
             else null
           end,
           response_status = case when o.outcome = 'release' then d.response_status else o.http_status end,
           last_error = case
             when o.outcome = 'delivered' then null
             when o.outcome = 'release' then d.last_error
             when o.outcome = 'retry' and d.attempts >= p_max_attempts then
               'gave up after ' || d.attempts || ' attempts: ' || o.error
             else o.error
           end,
           lease_until = null
      from o
     where d.id = o.id and d.status = 'delivering' and d.run_id is not distinct from p_run_id
    returning d.id, d.endpoint_id, d.status, o.outcome, d.last_error
  ),
  per_endpoint as (
    select s.endpoint_id,
           bool_or(s.status = 'delivered') as any_delivered,
           count(*) filter (where s.status = 'failed')::integer as newly_failed,
           bool_or(s.outcome in ('retry', 'failed')) as had_failure,
           (array_agg(s.last_error) filter (where s.status = 'failed'))[1] as last_error
      from settled s group by s.endpoint_id
  ),
  endpoints as (
    update public.webhook_endpoints e
       set consecutive_failures = case when p.any_delivered then 0 else e.consecutive_failures + p.newly_failed end,
           failed_run_id = case when p.had_failure then p_run_id else e.failed_run_id end,
           enabled = case
             when e.enabled and not p.any_delivered and p_disable_after > 0
                  and e.consecutive_failures + p.newly_failed >= p_disable_after then false
             else e.enabled
           end,
           disabled_at = case
             when e.enabled and not p.any_delivered and p_disable_after > 0
                  and e.consecutive_failures + p.newly_failed >= p_disable_after then p_now
             else e.disabled_at
           end,
           disabled_reason = case
             when e.enabled and not p.any_delivered and p_disable_after > 0
                  and e.consecutive_failures + p.newly_failed >= p_disable_after then
               'disabled after ' || (e.consecutive_failures + p.newly_failed) || ' consecutive failed messages; last: '
                 || coalesce(p.last_error, 'unknown error')
             else e.disabled_reason
           end
      from per_endpoint p
     where e.id = p.endpoint_id
  )
  select s.id, s.endpoint_id, s.status, s.outcome from settled s;
$$;

-- How many deliveries a run could claim now (capped at p_cap: a summary figure).
create or replace function public.webhook_backlog(p_now timestamptz default now(), p_cap integer default 10000)
returns integer
language sql stable as $$
  select count(*)::integer from (
    select 1 from public.webhook_deliveries d
      join public.webhook_endpoints e on e.id = d.endpoint_id and e.enabled
     where (d.status = 'pending' and (d.next_attempt_at is null or d.next_attempt_at <= p_now))
        or (d.status = 'delivering' and d.lease_until <= p_now)
     limit p_cap
  ) s;
$$;

-- Admin: re-enables an endpoint (its pending deliveries, kept while it was disabled, go out again). False if unknown.
create or replace function public.webhook_endpoint_enable(p_endpoint_id uuid, p_now timestamptz default now())
returns boolean
language plpgsql as $$
begin
  update public.webhook_endpoints e
     set enabled = true, consecutive_failures = 0, disabled_at = null, disabled_reason = null, failed_run_id = null,
         claimed_at = null
   where e.id = p_endpoint_id;
  return found;
end $$;

-- Admin: sends a failed delivery again from scratch (same webhook-id, fresh attempts, due now). False unless the
-- delivery exists and is 'failed'. On a disabled endpoint it waits until the endpoint is enabled.
create or replace function public.webhook_delivery_redeliver(p_delivery_id uuid, p_now timestamptz default now())
returns boolean
language plpgsql as $$
begin
  update public.webhook_deliveries d
     set status = 'pending', attempts = 0, next_attempt_at = null, failed_at = null, lease_until = null,
         last_error = 'redelivery requested at ' || public.webhook_iso(p_now) || coalesce('; before: ' || d.last_error, '')
   where d.id = p_delivery_id and d.status = 'failed';
  return found;
end $$;

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
