create table public.dm_queue (
  id uuid primary key default gen_random_uuid(),
  account_id uuid not null references public.accounts (id) on delete cascade,
  recipient_id text not null
    constraint dm_queue_recipient_id_not_empty check (length(btrim(recipient_id)) between 1 and 200),
  body text not null
    constraint dm_queue_body_not_empty check (length(btrim(body)) > 0)
    -- LinkedIn refuses messages over 8,000 characters; refuse them here instead of at 3 a.m.
    constraint dm_queue_body_max_8000 check (length(body) <= 8000),
  send_at timestamptz not null default now(),
  status text not null default 'pending'
    constraint dm_queue_status_valid check (status in ('pending', 'sending', 'sent', 'failed', 'cancelled', 'uncertain')),
  attempts integer not null default 0 constraint dm_queue_attempts_nonneg check (attempts >= 0),
  next_attempt_at timestamptz,
  last_error text,
  sent_at timestamptz,
  provider_message_id text,
  provider_chat_id text,
  -- When the current (or last) send started: the lease's start, and the day the DM counts against the cap.
  attempted_at timestamptz,
  lease_until timestamptz,
  failed_at timestamptz,
  -- The run that holds the row while it is 'sending'.
  run_id uuid,
  -- One column for "due": greatest() ignores a null next_attempt_at.
  due_at timestamptz generated always as (greatest(send_at, next_attempt_at)) stored,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create trigger dm_queue_updated_at before update on public.dm_queue
  for each row execute function public.set_updated_at();

-- The claim path: only due candidates are indexed, so the index stays small however much history piles up.
create index dm_queue_pending_due on public.dm_queue (account_id, due_at, id) where status = 'pending';
-- Cap accounting: what counts against today's limit, per account, by the time the send started.
create index dm_queue_cap_usage on public.dm_queue (account_id, (coalesce(attempted_at, sent_at)))
  where status in ('sent', 'sending', 'uncertain');
-- The reaper: leases that may have expired.
create index dm_queue_sending_lease on public.dm_queue (lease_until) where status = 'sending';
-- Operator views and analytics.
create index dm_queue_status on public.dm_queue (status, updated_at desc) where status in ('failed', 'uncertain');
create index dm_queue_sent_at on public.dm_queue (sent_at, account_id) where status = 'sent';
create index dm_queue_failed_at on public.dm_queue (failed_at, account_id) where status = 'failed';

alter table public.dm_queue enable row level security;
revoke all on public.dm_queue from anon, authenticated;
grant all on public.dm_queue to service_role;
