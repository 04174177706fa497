-- What /admin reads and writes, as SQL functions so the dashboard works on every transport (supabase-js has only rpc).
-- The page refreshes every few seconds: every read below walks a partial index or a bounded range, never the history.

-- One round trip for the whole page: jobs (pause flag, lease, last run, last success), queue depth, today's usage per
-- account in its own time zone, the items that need an operator, and 14 days of sent/failed/published.
create or replace function public.admin_overview(
  p_jobs text[],
  p_now timestamptz default now(),
  p_problem_limit integer default 50,
  p_account_limit integer default 100
) returns jsonb
language sql stable as $$
  select jsonb_build_object(
    'now', p_now,
    'installedAt', (select i.installed_at from public.cron_installation i),
    'jobs', (
      select coalesce(jsonb_agg(jsonb_build_object(
               'job', j.job,
               'enabled', coalesce(s.enabled, true),
               'lockUntil', s.lock_until,
               'lastRun', case when lr.id is null then null else jsonb_build_object(
                 'id', lr.id, 'trigger', lr.trigger, 'status', lr.status, 'startedAt', lr.started_at,
                 'finishedAt', lr.finished_at, 'durationMs', lr.duration_ms, 'error', lr.error,
                 'reason', lr.summary ->> 'reason') end,
               'lastSuccessAt', ls.started_at
             ) order by j.ord), '[]'::jsonb)
        from unnest(p_jobs) with ordinality as j(job, ord)
        left join public.cron_state s on s.job = j.job
        left join lateral (select r.* from public.job_runs r
                            where r.job = j.job order by r.started_at desc limit 1) lr on true
        left join lateral (select r.started_at from public.job_runs r
                            where r.job = j.job and r.status in ('ok', 'partial') order by r.started_at desc limit 1) ls on true
    ),
    -- Open statuses are counted exactly (each has a partial index); finished ones only over the last 24 hours, because
    -- their all-time count grows without bound and says nothing about the queue.
    'dmQueue', jsonb_build_object(
      'due', (select count(*) from public.dm_queue d where d.status = 'pending' and d.due_at <= p_now),
      'pending', (select count(*) from public.dm_queue d where d.status = 'pending'),
      'sending', (select count(*) from public.dm_queue d where d.status = 'sending'),
      'uncertain', (select count(*) from public.dm_queue d where d.status = 'uncertain'),
      'failed', (select count(*) from public.dm_queue d where d.status = 'failed'),
      'sent24h', (select count(*) from public.dm_queue d
                   where d.status = 'sent' and d.sent_at > p_now - interval '24 hours' and d.sent_at <= p_now)
    ),
    'posts', jsonb_build_object(
      'due', (select count(*) from public.posts p where p.status = 'scheduled' and p.due_at <= p_now),
      'scheduled', (select count(*) from public.posts p where p.status = 'scheduled'),
      'publishing', (select count(*) from public.posts p where p.status = 'publishing'),
      'uncertain', (select count(*) from public.posts p where p.status = 'uncertain'),
      'failed', (select count(*) from public.posts p where p.status = 'failed'),
      'published24h', (select count(*) from public.posts p
                        where p.status = 'published' and p.published_at > p_now - interval '24 hours'
                          and p.published_at <= p_now)
    ),
    'accountCount', (select count(*) from public.accounts),
    -- Counted exactly as claim_due_dms counts against the cap: sent, sending or uncertain, by the time the send
    -- started, within the account's own calendar day.
    'accounts', (
      select coalesce(jsonb_agg(jsonb_build_object(
               'id', a.id, 'name', a.name, 'timezone', a.timezone, 'status', a.status,
               'statusReason', a.status_reason, 'limit', a.dm_daily_limit, 'localDay', a.local_day,
               'used', (select count(*) from public.dm_queue u
                         where u.account_id = a.id and u.status in ('sent', 'sending', 'uncertain')
                           and coalesce(u.attempted_at, u.sent_at) >= a.day_start
                           and coalesce(u.attempted_at, u.sent_at) < a.day_start + interval '1 day'),
               'resumeAt', a.dm_resume_at
             ) order by a.name, a.id), '[]'::jsonb)
        from (select x.*, (p_now at time zone x.timezone)::date as local_day,
                     date_trunc('day', p_now at time zone x.timezone) at time zone x.timezone as day_start
                from public.accounts x order by x.name, x.id limit p_account_limit) a
    ),
    -- Uncertain first (only a person can settle them), then failed; newest first within each.
    'problems', (
      select coalesce(jsonb_agg(to_jsonb(p) order by p.status = 'uncertain' desc, p."updatedAt" desc), '[]'::jsonb)
        from (select * from (
          (select 'dm' as kind, d.id, d.status, d.attempts, d.last_error as "lastError", d.updated_at as "updatedAt",
                  d.attempted_at as "attemptedAt", a.name as account, d.recipient_id as target, left(d.body, 80) as preview
             from public.dm_queue d join public.accounts a on a.id = d.account_id
            where d.status in ('failed', 'uncertain') order by d.status = 'uncertain' desc, d.updated_at desc
            limit p_problem_limit)
          union all
          (select 'post', p.id, p.status, p.attempts, p.last_error, p.updated_at, p.attempted_at, a.name,
                  to_char(p.scheduled_for at time zone 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'), left(p.content, 80)
             from public.posts p join public.accounts a on a.id = p.account_id
            where p.status in ('failed', 'uncertain') order by p.status = 'uncertain' desc, p.updated_at desc
            limit p_problem_limit)
        ) u order by u.status = 'uncertain' desc, u."updatedAt" desc limit p_problem_limit) p
    ),
    -- 14 UTC days ending today. A day the nightly roll-up has finished comes from daily_platform_stats; any other day
    -- (today, or before analytics first ran) is counted from the source rows, as analytics_run_chunk counts them.
    'daily', (
      select jsonb_agg(jsonb_build_object(
               'day', d.day,
               'source', case when ps.day is null then 'live' else 'rollup' end,
               'dmsSent', coalesce(ps.dms_sent, (select count(*) from public.dm_queue q
                 where q.status = 'sent' and q.sent_at >= d.day_start and q.sent_at < d.day_start + interval '1 day')),
               'dmsFailed', coalesce(ps.dms_failed, (select count(*) from public.dm_queue q
                 where q.status = 'failed' and q.failed_at >= d.day_start and q.failed_at < d.day_start + interval '1 day')),
               'postsPublished', coalesce(ps.posts_published, (select count(*) from public.posts q
                 where q.status = 'published' and q.published_at >= d.day_start
                   and q.published_at < d.day_start + interval '1 day'))
             ) order by d.day)
        from (select g::date as day, g::date::timestamp at time zone 'UTC' as day_start
                from generate_series(((p_now at time zone 'UTC')::date - 13)::timestamp,
                                     (p_now at time zone 'UTC')::date::timestamp, interval '1 day') g) d
        left join public.daily_platform_stats ps on ps.day = d.day
    )
  );
$$;

-- The run log, newest first, optionally for one job and one status.
create or replace function public.admin_recent_runs(
  p_job text default null,
  p_status text default null,
  p_limit integer default 50
) returns table (
  id uuid, job text, trigger text, status text, started_at timestamptz, finished_at timestamptz, duration_ms integer,
  claimed integer, succeeded integer, failed integer, retried integer, uncertain integer, remaining integer,
  depth integer, reason text, error text
)
language sql stable as $$
  select r.id, r.job, r.trigger, r.status, r.started_at, r.finished_at, r.duration_ms,
         r.claimed, r.succeeded, r.failed, r.retried, r.uncertain, r.remaining, r.depth, r.summary ->> 'reason', r.error
    from public.job_runs r
   where (p_job is null or r.job = p_job) and (p_status is null or r.status = p_status)
   order by r.started_at desc
   limit least(greatest(coalesce(p_limit, 50), 1), 500);
$$;

-- The operator's three answers to a failed or uncertain item. Each returns {ok, status} or {ok: false, reason}, and
-- touches the row only from the statuses where the answer makes sense, so a double click or a stale page is harmless.
-- A row a run holds right now ('sending'/'publishing') is never touched: its outcome is still coming.

-- Retry: back to the queue as if new (attempts reset, no backoff). For an uncertain DM this may send it twice; the
-- page asks first.
create or replace function public.admin_retry_item(p_kind text, p_id uuid, p_now timestamptz default now())
returns jsonb
language plpgsql as $$
declare v_status text;
begin
  if p_kind = 'dm' then
    update public.dm_queue d
       set status = 'pending', attempts = 0, next_attempt_at = null, attempted_at = null, lease_until = null,
           run_id = null, failed_at = null, reconcile_checked_at = null,
           last_error = 'retried by the operator at ' || to_char(p_now at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                        || coalesce('; before: ' || d.last_error, '')
     where d.id = p_id and d.status in ('failed', 'uncertain')
    returning d.status into v_status;
  elsif p_kind = 'post' then
    update public.posts p
       set status = 'scheduled', scheduled_for = coalesce(p.scheduled_for, p_now), attempts = 0,
           next_attempt_at = null, attempted_at = null, lease_until = null, run_id = null, failed_at = null,
           last_error = 'retried by the operator at ' || to_char(p_now at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                        || coalesce('; before: ' || p.last_error, '')
     where p.id = p_id and p.status in ('failed', 'uncertain')
    returning p.status into v_status;
  else
    return jsonb_build_object('ok', false, 'reason', 'unknown kind ' || coalesce(p_kind, 'null'));
  end if;
  return public.admin_item_result(p_kind, p_id, v_status, 'only a failed or uncertain item can be retried');
end $$;

-- Cancel: never sent. Allowed from every status that is not in flight or already done.
create or replace function public.admin_cancel_item(p_kind text, p_id uuid, p_now timestamptz default now())
returns jsonb
language plpgsql as $$
declare v_status text;
begin
  if p_kind = 'dm' then
    update public.dm_queue d
       set status = 'cancelled', lease_until = null, next_attempt_at = null,
           last_error = 'cancelled by the operator at ' || to_char(p_now at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                        || coalesce('; before: ' || d.last_error, '')
     where d.id = p_id and d.status in ('pending', 'failed', 'uncertain')
    returning d.status into v_status;
  elsif p_kind = 'post' then
    update public.posts p
       set status = 'cancelled', lease_until = null, next_attempt_at = null,
           last_error = 'cancelled by the operator at ' || to_char(p_now at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                        || coalesce('; before: ' || p.last_error, '')
     where p.id = p_id and p.status in ('draft', 'scheduled', 'failed', 'uncertain')
    returning p.status into v_status;
  else
    return jsonb_build_object('ok', false, 'reason', 'unknown kind ' || coalesce(p_kind, 'null'));
  end if;
  return public.admin_item_result(p_kind, p_id, v_status, 'only a queued, failed or uncertain item can be cancelled');
end $$;

-- Mark sent: the operator checked LinkedIn and the message (post) is there. It counts on the day its send started.
create or replace function public.admin_mark_sent(p_kind text, p_id uuid, p_now timestamptz default now())
returns jsonb
language plpgsql as $$
declare v_status text;
begin
  if p_kind = 'dm' then
    update public.dm_queue d
       set status = 'sent', sent_at = coalesce(d.attempted_at, p_now), failed_at = null, lease_until = null,
           next_attempt_at = null,
           last_error = 'marked sent by the operator at ' || to_char(p_now at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                        || coalesce('; before: ' || d.last_error, '')
     where d.id = p_id and d.status in ('failed', 'uncertain')
    returning d.status into v_status;
  elsif p_kind = 'post' then
    update public.posts p
       set status = 'published', published_at = coalesce(p.attempted_at, p_now), failed_at = null, lease_until = null,
           next_attempt_at = null,
           last_error = 'marked published by the operator at ' || to_char(p_now at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                        || coalesce('; before: ' || p.last_error, '')
     where p.id = p_id and p.status in ('failed', 'uncertain')
    returning p.status into v_status;
  else
    return jsonb_build_object('ok', false, 'reason', 'unknown kind ' || coalesce(p_kind, 'null'));
  end if;
  return public.admin_item_result(p_kind, p_id, v_status, 'only a failed or uncertain item can be marked sent');
end $$;

-- The answer of the three functions above: the new status, or why nothing changed (gone, or in another status).
create or replace function public.admin_item_result(p_kind text, p_id uuid, p_new_status text, p_refusal text)
returns jsonb
language sql stable as $$
  select case
    when p_new_status is not null then jsonb_build_object('ok', true, 'status', p_new_status)
    else jsonb_build_object('ok', false, 'reason', coalesce(
      (select p_refusal || ' (it is ' || coalesce(
         case p_kind when 'dm' then (select d.status from public.dm_queue d where d.id = p_id)
                     else (select p.status from public.posts p where p.id = p_id) end, 'gone') || ')'),
      p_refusal))
  end;
$$;

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
