-- Retention (issue 12, B8). The run log and two queues only ever grew: two every-minute crons add ~2,880 job_runs a
-- day, a paused job still writes a 'skipped' row per call, and delivered webhooks and completed sync jobs stay forever.
-- jobs/retention.ts prunes them daily, one bounded batch per call of retention_prune, so a run stops cleanly at its
-- budget and the next one continues. Four kinds, each with its own age (days, from the job's environment):
--
--   skipped_runs        job_runs 'skipped' (paused or locked), by started_at — most of the every-minute rows
--   runs                job_runs 'ok' | 'partial' | 'error', by started_at
--   webhook_deliveries  webhook_deliveries 'delivered', by delivered_at
--   sync_jobs           sync_jobs 'completed', by finished_at
--
-- Never pruned, whatever their age: a 'running' job_run; the latest run of each job and its latest success ('ok' or
-- 'partial': what /api/health, cron_job_status and admin_overview read as last run and last success); any queue item
-- that is failed, uncertain, pending or in flight (a failed webhook delivery, a failed, queued or running sync job).
-- The other queues (dm_queue, posts, invitations) are not touched: their sent rows are what the caps and analytics
-- count.

-- One index per prune predicate, each holding only its kind's rows: a batch reads its oldest candidates straight off
-- the index instead of walking past the rows of other statuses (e.g. 28 days of 'ok' runs in front of the 'skipped'
-- ones older than 2 days) on every call. Partial indexes cost nothing for rows outside them ('running' inserts).
create index job_runs_skipped_started on public.job_runs (started_at) where status = 'skipped';
create index job_runs_finished_started on public.job_runs (started_at) where status in ('ok', 'partial', 'error');
create index webhook_deliveries_delivered_at on public.webhook_deliveries (delivered_at) where status = 'delivered';
create index sync_jobs_completed_finished on public.sync_jobs (finished_at) where status = 'completed';

create function public.retention_check(p_kind text, p_keep_days integer)
returns void
language plpgsql immutable as $$
begin
  if p_kind is null or p_kind not in ('skipped_runs', 'runs', 'webhook_deliveries', 'sync_jobs') then
    raise exception 'retention: unknown kind %, expected skipped_runs, runs, webhook_deliveries or sync_jobs',
      coalesce(quote_literal(p_kind), 'null') using errcode = '22023';
  end if;
  if p_keep_days is null or p_keep_days < 1 or p_keep_days > 36500 then
    raise exception 'retention: % must be kept 1..36500 days, got %', p_kind, coalesce(p_keep_days::text, 'null')
      using errcode = '22023';
  end if;
end $$;

-- Deletes at most p_limit rows of one kind that are older than p_keep_days at p_now, oldest first; returns how many.
-- Fewer than p_limit means the kind has nothing more to prune now. Each call is its own short transaction.
create function public.retention_prune(
  p_kind text,
  p_keep_days integer,
  p_limit integer,
  p_now timestamptz default now()
) returns integer
language plpgsql as $$
declare
  v_cutoff timestamptz := p_now - make_interval(days => p_keep_days);
  -- Bounded by the caller's chunk size; 50,000 keeps one statement's locks and WAL small whatever it asks.
  v_limit integer := least(p_limit, 50000);
  n integer;
begin
  perform public.retention_check(p_kind, p_keep_days);
  if p_limit is null or p_limit < 1 then
    raise exception 'retention: limit must be at least 1, got %', coalesce(p_limit::text, 'null') using errcode = '22023';
  end if;

  -- Each delete takes ids from the kind's index (skipping rows another transaction holds) and re-checks the status on
  -- the row it deletes: a row whose status changed since the scan (a sync job re-queued) is left alone.
  if p_kind = 'skipped_runs' then
    delete from public.job_runs r
     where r.status = 'skipped'
       and r.id in (
         select c.id from public.job_runs c
          where c.status = 'skipped' and c.started_at < v_cutoff
            -- Not the job's latest run (a paused job's last 'skipped' row is its last run).
            and exists (select 1 from public.job_runs l where l.job = c.job and l.started_at > c.started_at)
          order by c.started_at
          limit v_limit
          for update of c skip locked);
  elsif p_kind = 'runs' then
    delete from public.job_runs r
     where r.status in ('ok', 'partial', 'error')
       and r.id in (
         select c.id from public.job_runs c
          where c.status in ('ok', 'partial', 'error') and c.started_at < v_cutoff
            and exists (select 1 from public.job_runs l where l.job = c.job and l.started_at > c.started_at)
            -- Not the job's latest success: /api/health measures overdue from it.
            and (c.status = 'error'
                 or exists (select 1 from public.job_runs l
                             where l.job = c.job and l.status in ('ok', 'partial') and l.started_at > c.started_at))
          order by c.started_at
          limit v_limit
          for update of c skip locked);
  elsif p_kind = 'webhook_deliveries' then
    delete from public.webhook_deliveries d
     where d.status = 'delivered'
       and d.id in (
         select c.id from public.webhook_deliveries c
          where c.status = 'delivered' and c.delivered_at < v_cutoff
          order by c.delivered_at
          limit v_limit
          for update of c skip locked);
  else -- sync_jobs
    delete from public.sync_jobs j
     where j.status = 'completed'
       and j.id in (
         select c.id from public.sync_jobs c
          where c.status = 'completed' and c.finished_at < v_cutoff
          order by c.finished_at
          limit v_limit
          for update of c skip locked);
  end if;
  get diagnostics n = row_count;
  return n;
end $$;

-- What is kept, per kind: for /admin ("what is kept") and the docs. `kept` counts the kind's rows present now,
-- `oldest_at` is the oldest of them, `past_retention` counts those older than the retention (capped at 10,001: "more
-- than 10,000"): what the next run will prune, plus each job's protected latest run and latest success, which stay.
create function public.retention_overview(
  p_skipped_runs_days integer,
  p_runs_days integer,
  p_webhook_deliveries_days integer,
  p_sync_jobs_days integer,
  p_now timestamptz default now()
) returns table(kind text, table_name text, keep_days integer, kept bigint, oldest_at timestamptz, past_retention bigint)
language plpgsql stable as $$
begin
  perform public.retention_check('skipped_runs', p_skipped_runs_days);
  perform public.retention_check('runs', p_runs_days);
  perform public.retention_check('webhook_deliveries', p_webhook_deliveries_days);
  perform public.retention_check('sync_jobs', p_sync_jobs_days);
  return query
  select 'skipped_runs', 'job_runs', p_skipped_runs_days,
         (select count(*) from public.job_runs r where r.status = 'skipped'),
         (select min(r.started_at) from public.job_runs r where r.status = 'skipped'),
         (select count(*) from (select 1 from public.job_runs r where r.status = 'skipped'
             and r.started_at < p_now - make_interval(days => p_skipped_runs_days) limit 10001) x)
  union all
  select 'runs', 'job_runs', p_runs_days,
         (select count(*) from public.job_runs r where r.status in ('ok', 'partial', 'error')),
         (select min(r.started_at) from public.job_runs r where r.status in ('ok', 'partial', 'error')),
         (select count(*) from (select 1 from public.job_runs r where r.status in ('ok', 'partial', 'error')
             and r.started_at < p_now - make_interval(days => p_runs_days) limit 10001) x)
  union all
  select 'webhook_deliveries', 'webhook_deliveries', p_webhook_deliveries_days,
         (select count(*) from public.webhook_deliveries d where d.status = 'delivered'),
         (select min(d.delivered_at) from public.webhook_deliveries d where d.status = 'delivered'),
         (select count(*) from (select 1 from public.webhook_deliveries d where d.status = 'delivered'
             and d.delivered_at < p_now - make_interval(days => p_webhook_deliveries_days) limit 10001) x)
  union all
  select 'sync_jobs', 'sync_jobs', p_sync_jobs_days,
         (select count(*) from public.sync_jobs j where j.status = 'completed'),
         (select min(j.finished_at) from public.sync_jobs j where j.status = 'completed'),
         (select count(*) from (select 1 from public.sync_jobs j where j.status = 'completed'
             and j.finished_at < p_now - make_interval(days => p_sync_jobs_days) limit 10001) x);
end $$;

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
