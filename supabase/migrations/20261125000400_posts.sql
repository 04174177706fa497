create table public.posts (
  id uuid primary key default gen_random_uuid(),
  account_id uuid not null references public.accounts (id) on delete cascade,
  content text not null
    constraint posts_content_not_empty check (length(btrim(content)) > 0)
    -- LinkedIn's limit for a post's text.
    constraint posts_content_max_3000 check (length(content) <= 3000),
  scheduled_for timestamptz,
  status text not null default 'scheduled'
    constraint posts_status_valid check (status in ('draft', 'scheduled', 'publishing', 'published', 'failed', 'cancelled', 'uncertain')),
  attempts integer not null default 0 constraint posts_attempts_nonneg check (attempts >= 0),
  next_attempt_at timestamptz,
  last_error text,
  published_at timestamptz,
  provider_post_id text,
  attempted_at timestamptz,
  lease_until timestamptz,
  failed_at timestamptz,
  run_id uuid,
  due_at timestamptz generated always as (greatest(scheduled_for, next_attempt_at)) stored,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint posts_scheduled_needs_time check (status <> 'scheduled' or scheduled_for is not null)
);

create trigger posts_updated_at before update on public.posts
  for each row execute function public.set_updated_at();

create index posts_scheduled_due on public.posts (due_at, id) where status = 'scheduled';
create index posts_publishing_lease on public.posts (lease_until) where status = 'publishing';
create index posts_status on public.posts (status, updated_at desc) where status in ('failed', 'uncertain');
create index posts_published_at on public.posts (published_at, account_id) where status = 'published';
create index posts_failed_at on public.posts (failed_at, account_id) where status = 'failed';

alter table public.posts enable row level security;
revoke all on public.posts from anon, authenticated;
grant all on public.posts to service_role;
