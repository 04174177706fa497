-- Every existing queue moves onto the core (20261201000100/000200): the DM queue and the post scheduler are written
-- by queue_define; account sync and webhook deliveries keep their own claims (a job's pages, an endpoint's outbox) and
-- settle through queue_transition. The retry policy of each queue is its queue_policies row.

-- Posts rotate over accounts like DMs (a busy account cannot hold up the others' posts).
alter table public.accounts add column post_checked_at timestamptz;
create index posts_scheduled_account_due on public.posts (account_id, due_at, id) where status = 'scheduled';

select public.queue_define(
  p_queue => 'dm',
  p_item_table => 'dm_queue',
  p_plural => 'dms',
  p_singular => 'dm',
  p_waiting_status => 'pending',
  p_active_status => 'sending',
  p_done_status => 'sent',
  p_done_at_column => 'sent_at',
  p_payload_columns => array['recipient_id', 'body'],
  p_done_columns => '{"provider_message_id": "messageId", "provider_chat_id": "chatId"}',
  p_resume_column => 'dm_resume_at',
  p_checked_column => 'dm_checked_at',
  p_cap_limit_column => 'dm_daily_limit',
  p_cap_period => 'day',
  p_pacing_prefix => 'dm');

select public.queue_define(
  p_queue => 'post',
  p_item_table => 'posts',
  p_plural => 'posts',
  p_singular => 'post',
  p_waiting_status => 'scheduled',
  p_active_status => 'publishing',
  p_done_status => 'published',
  p_done_at_column => 'published_at',
  p_payload_columns => array['content'],
  p_done_columns => '{"provider_post_id": "postId"}',
  p_resume_column => 'post_resume_at',
  p_checked_column => 'post_checked_at');

-- Account sync: a page is a read, so nothing is ever uncertain; 'running' is both its waiting and its active state.
insert into public.queue_policies (queue, item_table, waiting_status, active_status, done_status, uncertain_status)
values ('sync', 'sync_jobs', 'running', 'running', 'completed', null);

-- Webhooks: at least once (no uncertain); a receiver's Retry-After is honoured up to the last backoff step.
insert into public.queue_policies (queue, item_table, waiting_status, active_status, done_status, uncertain_status,
                                   retry_after_max_seconds)
values ('webhook', 'webhook_deliveries', 'pending', 'delivering', 'delivered', null, 21600);

drop function public.settle_sync_jobs(uuid, jsonb, integer, integer[], timestamptz);
drop function public.settle_webhook_deliveries(uuid, jsonb, integer, integer[], integer, timestamptz);

-- Records the pages that did not commit (successes were settled by commit_sync_page). A key outcome fails the job with
-- the reason and pauses the account, as the DM queue does: a user-started import should say why it stopped rather
-- than wait silently. result.pages (the page count at claim) guards against undoing a commit that finished after its
-- caller gave up: a failure counts only if no page was committed since the claim.
create function public.settle_sync_jobs(
  p_run_id uuid,
  p_outcomes jsonb,
  p_now timestamptz default now(),
  p_max_attempts integer default null,
  p_backoff_seconds integer[] default null
) returns table (id uuid, account_id uuid, status text, outcome text, decision text)
language sql volatile as $$
  with o as (
    select o.*, case when o.result ->> 'pages' ~ '^\d{1,9}$' then (o.result ->> 'pages')::integer end as pages
      from public.queue_outcomes(p_outcomes) o
  ),
  plan as (
    select j.id, o.outcome, o.key_status, o.code, o.error, t.decision, t.status, t.attempts, t.next_attempt_at,
           case when o.outcome = 'key' then 'account ' || coalesce(o.key_status, 'unavailable') || ': ' || t.last_error
                else t.last_error end as last_error
      from o
      join public.sync_jobs j on j.id = o.id
      cross join lateral public.queue_transition('sync', case when o.outcome = 'key' then 'failed' else o.outcome end,
                                                 j.attempts, o.retry_after_ms, o.error, o.code, j.next_attempt_at,
                                                 j.error, p_now, p_max_attempts, p_backoff_seconds) t
     where j.status = 'running' and j.run_id is not distinct from p_run_id
       and (o.outcome = 'release' or o.pages is null or j.pages = o.pages)
  ),
  settled as (
    update public.sync_jobs j
       set status = p.status,
           error = p.last_error,
           attempts = p.attempts,
           next_attempt_at = p.next_attempt_at,
           finished_at = case when p.decision = 'failed' then p_now else j.finished_at end,
           lease_until = null,
           run_id = null
      from plan p
     where j.id = p.id and j.status = 'running' and j.run_id is not distinct from p_run_id
    returning j.id, j.account_id, j.status, p.outcome, p.decision, p.key_status, p.code, p.error
  ),
  key_pauses as (
    update public.accounts a
       set status = s.key_status, status_reason = coalesce(s.code || ': ', '') || s.error
      from (select distinct on (settled.account_id) settled.account_id, settled.key_status, settled.code, settled.error
              from settled where settled.outcome = 'key' and settled.key_status in ('disconnected', 'paused')) s
     where a.id = s.account_id and a.status = 'active'
  )
  select s.id, s.account_id, s.status, s.outcome, s.decision from settled s;
$$;

-- Records a batch of delivery outcomes in one statement (result.httpStatus: the receiver's answer, if any).
-- Per endpoint: a delivered message resets consecutive_failures, each message that ends 'failed' adds one, and at
-- p_disable_after (0 = never) the endpoint is disabled with the reason. Only rows this run holds are settled.
create function public.settle_webhook_deliveries(
  p_run_id uuid,
  p_outcomes jsonb,
  p_disable_after integer default 5,
  p_now timestamptz default now(),
  p_max_attempts integer default null,
  p_backoff_seconds integer[] default null
) returns table (id uuid, endpoint_id uuid, status text, outcome text, decision text)
language sql volatile as $$
  with o as (
    select o.*, case when o.result ->> 'httpStatus' ~ '^\d{3}$' then (o.result ->> 'httpStatus')::integer end
                  as http_status
      from public.queue_outcomes(p_outcomes) o
  ),
  plan as (
    select d.id, o.outcome, o.http_status, t.decision, t.status, t.attempts, t.next_attempt_at, t.last_error
      from o
      join public.webhook_deliveries d on d.id = o.id
      cross join lateral public.queue_transition('webhook', o.outcome, d.attempts, o.retry_after_ms, o.error, o.code,
                                                 d.next_attempt_at, d.last_error, p_now, p_max_attempts,
                                                 p_backoff_seconds) t
     where d.status = 'delivering' and d.run_id is not distinct from p_run_id
  ),
  settled as (
    update public.webhook_deliveries d
       set status = p.status,
           delivered_at = case when p.decision = 'done' then p_now else d.delivered_at end,
           failed_at = case when p.decision = 'failed' then p_now else d.failed_at end,
           attempts = p.attempts,
           attempted_at = case when p.decision = 'released' then null else d.attempted_at end,
           next_attempt_at = p.next_attempt_at,
           response_status = case when p.decision = 'released' then d.response_status else p.http_status end,
           last_error = p.last_error,
           lease_until = null
      from plan p
     where d.id = p.id and d.status = 'delivering' and d.run_id is not distinct from p_run_id
    returning d.id, d.endpoint_id, d.status, p.outcome, p.decision, d.last_error
  ),
  per_endpoint as (
    select s.endpoint_id,
           bool_or(s.decision = 'done') as any_delivered,
           count(*) filter (where s.decision = 'failed')::integer as newly_failed,
           bool_or(s.decision in ('retry', 'failed')) as had_failure,
           (array_agg(s.last_error) filter (where s.decision = 'failed'))[1] as last_error
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
  select s.id, s.endpoint_id, s.status, s.outcome, s.decision from settled s;
$$;

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
