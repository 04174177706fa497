-- The post scheduler's semantics: reap, claim, settle, backlog. Called by jobs/post-scheduler.ts. The same shape as the
-- DM queue (20261125000800), without the daily cap: a post has a time, not a quota.

-- A 429 on publishing is about the account: no post is claimed for it until this time (Retry-After or the first
-- backoff step). Its own column, so a DM cool-down and a post cool-down do not hold each other up.
alter table public.accounts add column post_resume_at timestamptz;

-- Expired leases: the run that claimed these died (or hung) after committing 'publishing', so the post may or may not
-- be on LinkedIn. There is no lookup API for posts, so 'uncertain' is for the operator; it is never re-published.
create or replace function public.reap_expired_posts(p_now timestamptz default now()) returns integer
language plpgsql as $$
declare n integer;
begin
  update public.posts p
     set status = 'uncertain', lease_until = null,
         last_error = 'lease expired at ' || to_char(p.lease_until at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') ||
                      ' while publishing: the outcome is unknown, so it is not re-published automatically'
   where p.status = 'publishing' and p.lease_until <= p_now;
  get diagnostics n = row_count;
  return n;
end $$;

-- Claims up to p_limit due posts of active accounts, oldest due first, and marks them 'publishing' with a lease. This
-- call is its own transaction: the caller commits the claim before any HTTP request, which is what makes a duplicate
-- post impossible. SKIP LOCKED lets concurrent runs take different posts; a post another run committed as
-- 'publishing' after our snapshot is re-checked by the UPDATE (status = 'scheduled' no longer holds) and dropped.
create or replace function public.claim_due_posts(
  p_limit integer,
  p_lease_seconds integer,
  p_run_id uuid default null,
  p_now timestamptz default now()
) returns table (
  id uuid,
  account_id uuid,
  provider_account_id text,
  content text,
  attempts integer,
  attempted_at timestamptz
)
language sql volatile as $$
  with picked as (
    select p.id, a.unipile_account_id
      from public.posts p
      join public.accounts a on a.id = p.account_id
     -- due_at = greatest(scheduled_for, next_attempt_at): one indexed column for "due", backoff included.
     where p.status = 'scheduled' and p.due_at <= p_now
       and a.status = 'active' and (a.post_resume_at is null or a.post_resume_at <= p_now)
     order by p.due_at, p.id
     limit greatest(p_limit, 0)
     for update of p skip locked
  )
  update public.posts p
     set status = 'publishing', attempts = p.attempts + 1, attempted_at = p_now,
         lease_until = p_now + make_interval(secs => p_lease_seconds), run_id = p_run_id
    from picked
   where p.id = picked.id and p.status = 'scheduled'
  returning p.id, p.account_id, picked.unipile_account_id, p.content, p.attempts, p.attempted_at;
$$;

-- Records a batch of outcomes in one statement. Each element of p_outcomes:
--   { id, outcome: published|retry|failed|uncertain|release|account, error?, code?, retryAfterMs?, cooldownAccount?,
--     providerPostId?, accountStatus? }
-- retry: back to 'scheduled' after the backoff (or Retry-After when longer), 'failed' once attempts reach the maximum.
-- release / account: back to 'scheduled' without spending the attempt (it never reached the provider).
-- Only rows this run holds are settled ('publishing' with its run id, or — for a late published/failed answer — the
-- 'uncertain' row the reaper made of it), so a late or duplicate settle cannot overwrite another run's work.
create or replace function public.settle_posts(
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
           x."providerPostId" as provider_post_id, x."accountStatus" as account_status
      from jsonb_to_recordset(p_outcomes) as x(
        id uuid, outcome text, error text, code text, "retryAfterMs" bigint, "cooldownAccount" boolean,
        "providerPostId" text, "accountStatus" text)
  ),
  settled as (
    update public.posts p
       set status = case
             when o.outcome = 'published' then 'published'
             when o.outcome = 'failed' then 'failed'
             when o.outcome = 'uncertain' then 'uncertain'
             when o.outcome = 'retry' and p.attempts >= p_max_attempts then 'failed'
             else 'scheduled'
           end,
           published_at = case when o.outcome = 'published' then p_now else p.published_at end,
           provider_post_id = case when o.outcome = 'published' then o.provider_post_id else p.provider_post_id end,
           failed_at = case when o.outcome = 'failed' or (o.outcome = 'retry' and p.attempts >= p_max_attempts) then p_now
                            else p.failed_at end,
           attempts = case when o.outcome in ('release', 'account') then greatest(p.attempts - 1, 0) else p.attempts end,
           attempted_at = case when o.outcome in ('release', 'account') then null else p.attempted_at end,
           next_attempt_at = case
             when o.outcome = 'retry' and p.attempts < p_max_attempts then
               p_now + make_interval(secs => greatest(
                 p_backoff_seconds[least(p.attempts, cardinality(p_backoff_seconds))],
                 coalesce(o.retry_after_ms, 0) / 1000.0))
             when o.outcome in ('release', 'account') then p.next_attempt_at
             else null
           end,
           lease_until = null,
           last_error = case
             when o.outcome in ('published', 'release') then p.last_error
             when o.outcome = 'retry' and p.attempts >= p_max_attempts then
               'gave up after ' || p.attempts || ' attempts: ' || coalesce(o.code || ': ', '') || o.error
             else coalesce(o.code || ': ', '') || o.error
           end
      from o
     where p.id = o.id
       and p.run_id is not distinct from p_run_id
       and (p.status = 'publishing' or (p.status = 'uncertain' and o.outcome in ('published', 'failed')))
    returning p.id, p.account_id, p.status, o.outcome, o.cooldown, o.retry_after_ms, o.account_status, o.code, o.error
  ),
  account_marks as (
    -- A disconnected or restricted account stops publishing; its posts wait for it.
    update public.accounts a
       set status = s.account_status, status_reason = coalesce(s.code || ': ', '') || s.error
      from (select distinct on (settled.account_id) settled.account_id, settled.account_status, settled.code, settled.error
              from settled where settled.outcome = 'account' and settled.account_status in ('disconnected', 'paused')) s
     where a.id = s.account_id and a.status = 'active'
  ),
  cooldowns as (
    -- A 429 is about the account: no posts for it until Retry-After (or the first backoff step) has passed.
    update public.accounts a
       set post_resume_at = greatest(coalesce(a.post_resume_at, p_now), p_now + make_interval(secs => c.seconds))
      from (select settled.account_id,
                   max(greatest(coalesce(settled.retry_after_ms, 0) / 1000.0, p_backoff_seconds[1])) as seconds
              from settled where settled.cooldown group by settled.account_id) c
     where a.id = c.account_id
  )
  select s.id, s.account_id, s.status, s.outcome from settled s;
$$;

-- How many posts could be claimed now (capped at p_cap: it is a summary figure, not a report).
create or replace function public.post_backlog(p_now timestamptz default now(), p_cap integer default 10000)
returns integer
language sql stable as $$
  select count(*)::integer from (
    select 1 from public.posts p
      join public.accounts a on a.id = p.account_id
     where p.status = 'scheduled' and p.due_at <= p_now
       and a.status = 'active' and (a.post_resume_at is null or a.post_resume_at <= p_now)
     limit p_cap
  ) s;
$$;

-- An account that is resumed (or reconnected) by the operator may publish again at once.
create or replace function public.accounts_reset_post_resume() returns trigger
language plpgsql as $$
begin
  if new.status is distinct from old.status then
    new.post_resume_at := null;
  end if;
  return new;
end $$;

create trigger accounts_reset_post_resume before update of status on public.accounts
  for each row execute function public.accounts_reset_post_resume();

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
