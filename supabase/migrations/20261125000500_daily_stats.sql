-- Per account per UTC day. Every figure is recomputed from the source rows (never incremented), so re-running a day
-- is harmless.
create table public.daily_stats (
  day date not null,
  account_id uuid not null references public.accounts (id) on delete cascade,
  dms_sent integer not null default 0,
  dms_failed integer not null default 0,
  dms_uncertain integer not null default 0,
  posts_published integer not null default 0,
  posts_failed integer not null default 0,
  computed_at timestamptz not null default now(),
  primary key (day, account_id)
);

-- The platform-wide roll-up of daily_stats, written when a day is complete.
create table public.daily_platform_stats (
  day date primary key,
  accounts integer not null default 0,
  dms_sent integer not null default 0,
  dms_failed integer not null default 0,
  dms_uncertain integer not null default 0,
  posts_published integer not null default 0,
  posts_failed integer not null default 0,
  computed_at timestamptz not null default now()
);

alter table public.daily_stats enable row level security;
alter table public.daily_platform_stats enable row level security;
revoke all on public.daily_stats, public.daily_platform_stats from anon, authenticated;
grant all on public.daily_stats, public.daily_platform_stats to service_role;
