-- The DM queue's semantics: reap, claim (caps, fairness, pacing), settle, backlog. Called by jobs/dm-queue.ts.

alter table public.dm_queue add column reconcile_checked_at timestamptz;

-- Expired leases: the run that claimed these died (or hung) after committing 'sending', so the DM may or may not have
-- reached LinkedIn. It is never re-sent automatically: 'uncertain' is for reconciliation or the operator.
create or replace function public.reap_expired_dms(p_now timestamptz default now()) returns integer
language plpgsql as $$
declare n integer;
begin
  update public.dm_queue d
     set status = 'uncertain', lease_until = null,
         last_error = 'lease expired at ' || to_char(d.lease_until at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') ||
                      ' while sending: the outcome is unknown, so it is not re-sent automatically'
   where d.status = 'sending' and d.lease_until <= p_now;
  get diagnostics n = row_count;
  return n;
end $$;

-- Claims up to p_limit due DMs, never more per account than what is left of its daily cap in its own time zone,
-- round-robin across accounts. Marks them 'sending' with a lease; the caller commits (this call is its own
-- transaction) before any HTTP request, which is what makes a duplicate DM impossible.
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
  picked as (
    select p.id, q.id as account_id, q.unipile_account_id,
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

-- Records a batch of outcomes in one statement. Each element of p_outcomes:
--   { id, outcome: sent|retry|failed|uncertain|release|account, error?, code?, retryAfterMs?, cooldownAccount?,
--     providerMessageId?, providerChatId?, accountStatus? }
-- retry: back to 'pending' after the backoff (or Retry-After when longer), 'failed' once attempts reach the maximum.
-- release / account: back to 'pending' without spending the attempt (it never reached the provider).
-- Only rows this run holds are settled ('sending' with its run id, or 'uncertain' after a reap), so a late or
-- duplicate settle cannot overwrite another run's work.
create or replace function public.settle_dms(
  p_run_id uuid,
  p_outcomes jsonb,
  p_max_attempts integer default 5,
  p_backoff_seconds integer[] default array[60, 300, 1800, 21600],
  p_now timestamptz default now()
) returns table (id uuid, account_id uuid, status text, outcome text)
language sql volatile as $$
  with o as (
    select x.id, x.outcome, left(coalesce(nullif(x.error, ''), x.outcome), 1000) as error, x.code,
           x."retryAfterMs" as retry_after_ms, coalesce(x."cooldownAccount", false) as cooldown,
           x."providerMessageId" as provider_message_id, x."providerChatId" as provider_chat_id,
           x."accountStatus" as account_status
      from jsonb_to_recordset(p_outcomes) as x(
        id uuid, outcome text, error text, code text, "retryAfterMs" bigint, "cooldownAccount" boolean,
        "providerMessageId" text, "providerChatId" text, "accountStatus" text)
  ),
  settled as (
    update public.dm_queue d
       set status = case
             when o.outcome = 'sent' then 'sent'
             when o.outcome = 'failed' then 'failed'
             when o.outcome = 'uncertain' then 'uncertain'
             when o.outcome = 'retry' and d.attempts >= p_max_attempts then 'failed'
             else 'pending'
           end,
           sent_at = case when o.outcome = 'sent' then p_now else d.sent_at end,
           provider_message_id = case when o.outcome = 'sent' then o.provider_message_id else d.provider_message_id end,
           provider_chat_id = case when o.outcome = 'sent' then o.provider_chat_id else d.provider_chat_id end,
           failed_at = case when o.outcome = 'failed' or (o.outcome = 'retry' and d.attempts >= p_max_attempts) then p_now
                            else d.failed_at end,
           attempts = case when o.outcome in ('release', 'account') then greatest(d.attempts - 1, 0) else d.attempts end,
           attempted_at = case when o.outcome in ('release', 'account') then null else d.attempted_at end,
           next_attempt_at = case
             when o.outcome = 'retry' and d.attempts < p_max_attempts then
               p_now + make_interval(secs => greatest(
                 p_backoff_seconds[least(d.attempts, cardinality(p_backoff_seconds))],
                 coalesce(o.retry_after_ms, 0) / 1000.0))
             when o.outcome in ('release', 'account') then d.next_attempt_at
             else null
           end,
           lease_until = null,
           last_error = case
             when o.outcome = 'sent' then d.last_error
             when o.outcome = 'release' then d.last_error
             when o.outcome = 'retry' and d.attempts >= p_max_attempts then
               'gave up after ' || d.attempts || ' attempts: ' || coalesce(o.code || ': ', '') || o.error
             else coalesce(o.code || ': ', '') || o.error
           end
      from o
     where d.id = o.id
       and ((d.status = 'sending' and d.run_id is not distinct from p_run_id) or d.status = 'uncertain')
       and (d.status = 'sending' or o.outcome in ('sent', 'failed'))
    returning d.id, d.account_id, d.status, o.outcome, o.cooldown, o.retry_after_ms, o.account_status, o.code, o.error
  ),
  account_marks as (
    -- A disconnected or restricted account stops sending; its DMs wait for it.
    update public.accounts a
       set status = s.account_status, status_reason = coalesce(s.code || ': ', '') || s.error
      from (select distinct on (settled.account_id) settled.account_id, settled.account_status, settled.code, settled.error
              from settled where settled.outcome = 'account' and settled.account_status in ('disconnected', 'paused')) s
     where a.id = s.account_id and a.status = 'active'
  ),
  cooldowns as (
    -- A 429 is about the account: no sends for it until Retry-After (or the first backoff step) has passed.
    update public.accounts a
       set dm_resume_at = greatest(coalesce(a.dm_resume_at, p_now), p_now + make_interval(secs => c.seconds))
      from (select settled.account_id,
                   max(greatest(coalesce(settled.retry_after_ms, 0) / 1000.0, p_backoff_seconds[1])) as seconds
              from settled where settled.cooldown group by settled.account_id) c
     where a.id = c.account_id
  )
  select s.id, s.account_id, s.status, s.outcome from settled s;
$$;

-- How many DMs could be claimed now (capped at p_cap: it is a summary figure, not a report).
create or replace function public.dm_backlog(p_now timestamptz default now(), p_cap integer default 10000) returns integer
language sql stable as $$
  select count(*)::integer from (
    select 1 from public.dm_queue d
      join public.accounts a on a.id = d.account_id
     where d.status = 'pending' and d.due_at <= p_now
       and a.status = 'active' and (a.dm_resume_at is null or a.dm_resume_at <= p_now)
     limit p_cap
  ) s;
$$;

-- Uncertain DMs due for a provider lookup: at least two minutes after the send started (a message can take a moment
-- to show up in the chat), then at most once an hour each, oldest first; stamps them as checked.
create or replace function public.claim_uncertain_dms(p_limit integer, p_now timestamptz default now())
returns table (id uuid, account_id uuid, provider_account_id text, recipient_id text, body text, attempted_at timestamptz)
language sql volatile as $$
  with c as (
    select d.id from public.dm_queue d
      join public.accounts a on a.id = d.account_id and a.status = 'active'
     where d.status = 'uncertain' and d.attempted_at is not null and d.attempted_at <= p_now - interval '2 minutes'
       and (d.reconcile_checked_at is null or d.reconcile_checked_at <= p_now - interval '1 hour')
     order by d.reconcile_checked_at nulls first, d.attempted_at
     limit p_limit
     for update of d skip locked
  )
  update public.dm_queue d set reconcile_checked_at = p_now
    from c, public.accounts a
   where d.id = c.id and a.id = d.account_id
  returning d.id, d.account_id, a.unipile_account_id, d.recipient_id, d.body, d.attempted_at;
$$;

-- The lookup found the message: the uncertain DM was in fact sent.
create or replace function public.resolve_uncertain_dm(
  p_id uuid, p_provider_message_id text, p_provider_chat_id text, p_now timestamptz default now()
) returns boolean
language plpgsql as $$
begin
  update public.dm_queue d
     set status = 'sent', sent_at = coalesce(d.attempted_at, p_now),
         provider_message_id = p_provider_message_id, provider_chat_id = p_provider_chat_id,
         last_error = 'resolved by provider lookup: ' || coalesce(d.last_error, '')
   where d.id = p_id and d.status = 'uncertain';
  return found;
end $$;

-- When the operator raises a cap, let the account claim again at once.
create or replace function public.accounts_reset_dm_resume() returns trigger
language plpgsql as $$
begin
  if new.dm_daily_limit is distinct from old.dm_daily_limit or new.status is distinct from old.status then
    new.dm_resume_at := null;
  end if;
  return new;
end $$;

create trigger accounts_reset_dm_resume before update of dm_daily_limit, status on public.accounts
  for each row execute function public.accounts_reset_dm_resume();

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
