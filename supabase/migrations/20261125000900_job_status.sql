-- When the schema was installed: a job that has never run is not overdue until one interval (plus grace) after it.
create table public.cron_installation (
  id boolean primary key default true constraint cron_installation_single_row check (id),
  installed_at timestamptz not null default now()
);
insert into public.cron_installation default values;
alter table public.cron_installation enable row level security;
revoke all on public.cron_installation from anon, authenticated;
grant all on public.cron_installation to service_role;

-- Helps the "last success per job" lookup below.
create index job_runs_job_success on public.job_runs (job, started_at desc) where status in ('ok', 'partial');

-- Per job: pause flag, last run and last successful run ('ok' or 'partial': a partial run made progress).
create or replace function public.cron_job_status(p_jobs text[])
returns table (
  job text,
  enabled boolean,
  last_run_at timestamptz,
  last_run_status text,
  last_run_duration_ms integer,
  last_success_at timestamptz,
  installed_at timestamptz
)
language sql stable as $$
  select j.job,
         coalesce(s.enabled, true),
         lr.started_at, lr.status, lr.duration_ms,
         ls.started_at,
         (select i.installed_at from public.cron_installation i)
    from unnest(p_jobs) as j(job)
    left join public.cron_state s on s.job = j.job
    left join lateral (select r.started_at, r.status, r.duration_ms from public.job_runs r
                        where r.job = j.job order by r.started_at desc limit 1) lr on true
    left join lateral (select r.started_at from public.job_runs r
                        where r.job = j.job and r.status in ('ok', 'partial') order by r.started_at desc limit 1) ls on true;
$$;

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
