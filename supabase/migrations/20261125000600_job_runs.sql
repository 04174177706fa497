-- One row per cron invocation: the history /admin shows and /api/health reads.
create table public.job_runs (
  id uuid primary key default gen_random_uuid(),
  job text not null,
  trigger text not null constraint job_runs_trigger_valid check (trigger in ('cron', 'manual', 'continuation')),
  status text not null default 'running'
    constraint job_runs_status_valid check (status in ('running', 'ok', 'partial', 'skipped', 'error')),
  started_at timestamptz not null default now(),
  finished_at timestamptz,
  duration_ms integer,
  budget_ms integer,
  claimed integer not null default 0,
  succeeded integer not null default 0,
  failed integer not null default 0,
  retried integer not null default 0,
  uncertain integer not null default 0,
  remaining integer not null default 0,
  has_more boolean not null default false,
  -- Continuation chain depth: 0 for a cron or manual call.
  depth integer not null default 0,
  summary jsonb,
  cursor jsonb,
  error text
);

create index job_runs_job_started on public.job_runs (job, started_at desc);
create index job_runs_started on public.job_runs (started_at desc);

-- Per job: pause flag, single-flight lease, resume cursor.
create table public.cron_state (
  job text primary key,
  enabled boolean not null default true,
  lock_until timestamptz,
  lock_run_id uuid,
  cursor jsonb,
  updated_at timestamptz not null default now()
);

create trigger cron_state_updated_at before update on public.cron_state
  for each row execute function public.set_updated_at();

alter table public.job_runs enable row level security;
alter table public.cron_state enable row level security;
revoke all on public.job_runs, public.cron_state from anon, authenticated;
grant all on public.job_runs, public.cron_state to service_role;
