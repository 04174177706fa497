-- Claim and settle cost, found by profiling the benchmark (bench/RESULTS.md):
-- 1. The time-zone CHECK called a plpgsql function with an exception block (a subtransaction) on every UPDATE of an
--    account row, and the claim touches every account it looks at. Validate only when the time zone is written.
-- 2. claim_due_dms could return more than p_limit rows when the per-account share was rounded up.
-- 3. The webhook outbox triggers built a payload for every settled row even with no endpoint registered.

alter table public.accounts drop constraint accounts_timezone_valid;

create or replace function public.accounts_check_timezone() returns trigger
language plpgsql as $$
begin
  if not public.is_valid_timezone(new.timezone) then
    raise exception 'new row for relation "accounts" violates check constraint "accounts_timezone_valid": unknown time zone %', quote_literal(new.timezone)
      using errcode = 'check_violation', constraint = 'accounts_timezone_valid', table = 'accounts', column = 'timezone';
  end if;
  return new;
end $$;

create trigger accounts_timezone_valid before insert or update of timezone on public.accounts
  for each row execute function public.accounts_check_timezone();

create or replace function public.claim_due_dms(
  p_limit integer,
  p_lease_seconds integer,
  p_run_id uuid default null,
  p_now timestamptz default now()
) returns table (
  id uuid,
  account_id uuid,
  provider_account_id text,
  recipient_id text,
  body text,
  attempts integer,
  attempted_at timestamptz,
  turn integer
)
language plpgsql volatile as $$
declare
  v_accounts uuid[];
  v_share integer;
begin
  if p_limit is null or p_limit < 1 then return; end if;

  -- 1. Lock the accounts we will claim for, least recently checked first (fair across runs). SKIP LOCKED: a
  --    concurrent run takes other accounts instead of waiting, and two runs never claim for one account at once.
  select array_agg(s.id) into v_accounts from (
    select a.id
      from public.accounts a
     where a.status = 'active'
       and (a.dm_resume_at is null or a.dm_resume_at <= p_now)
       and exists (select 1 from public.dm_queue q
                    where q.account_id = a.id and q.status = 'pending' and q.due_at <= p_now)
     order by a.dm_checked_at nulls first, a.id
     limit p_limit
     for update of a skip locked
  ) s;
  if v_accounts is null then return; end if;
  v_share := ceil(p_limit::numeric / cardinality(v_accounts))::integer;

  -- 2. A new statement takes a new snapshot (this function is volatile, READ COMMITTED): every claim committed
  --    before we locked the accounts is visible, so the cap arithmetic below is exact.
  return query
  with acc as (
    select a.id, a.timezone, a.dm_daily_limit, a.unipile_account_id,
           a.dm_min_interval_seconds, a.dm_jitter_seconds, a.dm_window_start_hour, a.dm_window_end_hour,
           (p_now at time zone a.timezone) as local_now,
           (date_trunc('day', p_now at time zone a.timezone) at time zone a.timezone) as day_start,
           ((date_trunc('day', p_now at time zone a.timezone) + interval '1 day') at time zone a.timezone) as day_end
      from public.accounts a
     where a.id = any (v_accounts)
  ),
  quota as (
    select acc.*,
           greatest(0, acc.dm_daily_limit - (
             select count(*) from public.dm_queue u
              where u.account_id = acc.id
                and u.status in ('sent', 'sending', 'uncertain')
                and coalesce(u.attempted_at, u.sent_at) >= acc.day_start
                and coalesce(u.attempted_at, u.sent_at) < acc.day_end))::integer as remaining,
           case
             when acc.dm_window_start_hour is null then true
             when acc.dm_window_start_hour < acc.dm_window_end_hour then
               extract(hour from acc.local_now) >= acc.dm_window_start_hour and extract(hour from acc.local_now) < acc.dm_window_end_hour
             else -- a window over midnight, e.g. 22..6
               extract(hour from acc.local_now) >= acc.dm_window_start_hour or extract(hour from acc.local_now) < acc.dm_window_end_hour
           end as in_window
      from acc
  ),
  candidates as (
    select p.id, p.due_at, q.id as account_id, q.unipile_account_id,
           row_number() over (partition by q.id order by p.due_at, p.id)::integer as turn
      from quota q
      cross join lateral (
        select d.id, d.due_at
          from public.dm_queue d
         where d.account_id = q.id and d.status = 'pending' and d.due_at <= p_now
         order by d.due_at, d.id
         limit case when not q.in_window then 0
                    when q.dm_min_interval_seconds > 0 then least(q.remaining, 1)
                    else least(q.remaining, v_share) end
         for update of d skip locked
      ) p
  ),
  -- The per-account share is rounded up, so the candidates can exceed p_limit: keep the first turns.
  picked as (
    select c.id, c.account_id, c.unipile_account_id, c.turn
      from candidates c
     order by c.turn, c.due_at, c.id
     limit p_limit
  ),
  claimed as (
    update public.dm_queue d
       set status = 'sending', attempts = d.attempts + 1, attempted_at = p_now,
           lease_until = p_now + make_interval(secs => p_lease_seconds), run_id = p_run_id
      from picked p
     where d.id = p.id
    returning d.id, d.account_id, p.unipile_account_id, d.recipient_id, d.body, d.attempts, d.attempted_at, p.turn
  ),
  per_account as (
    select c.account_id, count(*)::integer as n from claimed c group by c.account_id
  ),
  touched as (
    update public.accounts a
       set dm_checked_at = p_now,
           dm_resume_at = case
             -- Cap reached: look again at local midnight, or sooner in case a send fails or the limit is raised.
             when q.remaining - coalesce(pa.n, 0) <= 0 then least(q.day_end, p_now + interval '5 minutes')
             -- Outside the sending window: resume at the next window start.
             when not q.in_window then
               (date_trunc('day', q.local_now) + make_interval(hours => q.dm_window_start_hour::integer)
                 + case when date_trunc('day', q.local_now) + make_interval(hours => q.dm_window_start_hour::integer) <= q.local_now
                        then interval '1 day' else interval '0' end) at time zone q.timezone
             -- Pacing: the next DM no sooner than the interval plus random jitter.
             when q.dm_min_interval_seconds > 0 and coalesce(pa.n, 0) > 0 then
               p_now + make_interval(secs => q.dm_min_interval_seconds + floor(random() * (q.dm_jitter_seconds + 1)))
             else null
           end
      from quota q
      left join per_account pa on pa.account_id = q.id
     where a.id = q.id
  )
  select c.id, c.account_id, c.unipile_account_id, c.recipient_id, c.body, c.attempts, c.attempted_at, c.turn
    from claimed c
   order by c.turn, c.attempted_at, c.id;
end $$;


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
      'error', public.webhook_redact(new.last_error, new.body), 'attempts', new.attempts,
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
      'error', public.webhook_redact(new.last_error, new.content), 'attempts', new.attempts,
      'failedAt', public.webhook_iso(new.failed_at)), coalesce(new.failed_at, now()));
  end if;
  return null;
end $$;

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
