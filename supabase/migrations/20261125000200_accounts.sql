create table public.accounts (
  id uuid primary key default gen_random_uuid(),
  name text not null default '' constraint accounts_name_length check (length(name) <= 200),
  timezone text not null default 'UTC'
    constraint accounts_timezone_valid check (public.is_valid_timezone(timezone)),
  status text not null default 'active'
    constraint accounts_status_valid check (status in ('active', 'paused', 'disconnected')),
  -- Why the engine (or an operator) changed the status, e.g. errors/disconnected_account.
  status_reason text,
  dm_daily_limit integer not null default 25
    constraint accounts_dm_daily_limit_range check (dm_daily_limit between 0 and 1000),
  unipile_account_id text,
  -- Pacing, off by default: a minimum gap between two DMs (plus random jitter) and a sending window in local hours.
  dm_min_interval_seconds integer not null default 0 constraint accounts_dm_min_interval_nonneg check (dm_min_interval_seconds >= 0),
  dm_jitter_seconds integer not null default 0 constraint accounts_dm_jitter_nonneg check (dm_jitter_seconds >= 0),
  dm_window_start_hour smallint constraint accounts_dm_window_start_range check (dm_window_start_hour between 0 and 23),
  dm_window_end_hour smallint constraint accounts_dm_window_end_range check (dm_window_end_hour between 1 and 24),
  -- Engine-managed: earliest time the next DM may be claimed (pacing, cap reached, 429 cool-down) ...
  dm_resume_at timestamptz,
  -- ... and when the claim last looked at this account, which rotates accounts fairly across runs.
  dm_checked_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint accounts_dm_window_both check ((dm_window_start_hour is null) = (dm_window_end_hour is null))
);

create trigger accounts_updated_at before update on public.accounts
  for each row execute function public.set_updated_at();

-- The claim walks active accounts least-recently-checked first.
create index accounts_dm_rotation on public.accounts (dm_checked_at nulls first, id) where status = 'active';

alter table public.accounts enable row level security;
revoke all on public.accounts from anon, authenticated;
grant all on public.accounts to service_role;
