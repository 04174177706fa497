-- LinkedIn connection invitations, capped per calendar week (Monday 00:00) of the account's own time zone. Outreach
-- starts here: a DM to someone who is not a connection fails (no_connection_with_recipient). The whole queue is this
-- table plus one queue_define call; jobs/invitations.ts sends them.

alter table public.accounts
  add column invite_weekly_limit integer not null default 100
    constraint accounts_invite_weekly_limit_range check (invite_weekly_limit between 0 and 1000),
  -- Engine-managed, as for DMs: earliest next claim (cap reached, 429 cool-down) and the rotation across accounts.
  add column invite_resume_at timestamptz,
  add column invite_checked_at timestamptz;

create table public.invitations (
  id uuid primary key default gen_random_uuid(),
  account_id uuid not null references public.accounts (id) on delete cascade,
  -- The recipient's provider id (Unipile's provider_id of the LinkedIn member).
  recipient_id text not null
    constraint invitations_recipient_id_not_empty check (length(btrim(recipient_id)) between 1 and 200),
  -- LinkedIn refuses an invitation note over 300 characters; refuse it here instead of at send time.
  message text constraint invitations_message_max_300 check (length(message) <= 300),
  send_at timestamptz not null default now(),
  status text not null default 'pending'
    constraint invitations_status_valid check (status in ('pending', 'sending', 'sent', 'failed', 'cancelled', 'uncertain')),
  attempts integer not null default 0 constraint invitations_attempts_nonneg check (attempts >= 0),
  next_attempt_at timestamptz,
  last_error text,
  sent_at timestamptz,
  provider_invitation_id text,
  -- When the current (or last) send started: the lease's start, and the week the invitation counts against the cap.
  attempted_at timestamptz,
  lease_until timestamptz,
  failed_at timestamptz,
  run_id uuid,
  due_at timestamptz generated always as (greatest(send_at, next_attempt_at)) stored,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create trigger invitations_updated_at before update on public.invitations
  for each row execute function public.set_updated_at();

-- The claim path, the cap count, the reaper and the operator's list: each a partial index, so history does not slow them.
create index invitations_pending_due on public.invitations (account_id, due_at, id) where status = 'pending';
create index invitations_cap_usage on public.invitations (account_id, (coalesce(attempted_at, sent_at)))
  where status in ('sent', 'sending', 'uncertain');
create index invitations_sending_lease on public.invitations (lease_until) where status = 'sending';
create index invitations_status on public.invitations (status, updated_at desc) where status in ('failed', 'uncertain');

alter table public.invitations enable row level security;
revoke all on public.invitations from anon, authenticated;
grant all on public.invitations to service_role;

select public.queue_define(
  p_queue => 'invitation',
  p_item_table => 'invitations',
  p_plural => 'invitations',
  p_singular => 'invitation',
  p_waiting_status => 'pending',
  p_active_status => 'sending',
  p_done_status => 'sent',
  p_done_at_column => 'sent_at',
  p_payload_columns => array['recipient_id', 'message'],
  p_done_columns => '{"provider_invitation_id": "invitationId"}',
  p_resume_column => 'invite_resume_at',
  p_checked_column => 'invite_checked_at',
  p_cap_limit_column => 'invite_weekly_limit',
  p_cap_period => 'week');

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
