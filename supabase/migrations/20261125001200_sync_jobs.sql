-- Account sync: on-demand, paginated, resumable imports (POST /api/sync-jobs, drained by jobs/sync-jobs.ts). A job
-- keeps its place in its own row: the provider's cursor and the progress move in the same statement as the page's
-- upserts (commit_sync_page), guarded by the page number the caller expected, so a page is applied exactly once and a
-- run that dies anywhere resumes at the last committed cursor. Reads are idempotent, so unlike a DM an expired lease
-- simply lets the next run fetch the uncommitted page again.

create table public.linkedin_relations (
  account_id uuid not null references public.accounts (id) on delete cascade,
  member_id text not null constraint linkedin_relations_member_id_not_empty check (length(member_id) > 0),
  name text,
  headline text,
  public_identifier text,
  connected_at timestamptz,
  synced_at timestamptz not null default now(),
  primary key (account_id, member_id)
);

alter table public.linkedin_relations enable row level security;
revoke all on public.linkedin_relations from anon, authenticated;
grant all on public.linkedin_relations to service_role;

create table public.sync_jobs (
  id uuid primary key default gen_random_uuid(),
  account_id uuid not null references public.accounts (id) on delete cascade,
  kind text not null default 'relations' constraint sync_jobs_kind_valid check (kind in ('relations')),
  status text not null default 'queued'
    constraint sync_jobs_status_valid check (status in ('queued', 'running', 'completed', 'failed')),
  -- The provider's cursor of the next page: null before the first page (and after the last one).
  cursor text,
  -- Progress, advanced only by commit_sync_page: pages committed, relations upserted.
  pages integer not null default 0 constraint sync_jobs_pages_nonneg check (pages >= 0),
  items integer not null default 0 constraint sync_jobs_items_nonneg check (items >= 0),
  -- Attempts at the current page (counted at claim, back to 0 when a page commits).
  attempts integer not null default 0 constraint sync_jobs_attempts_nonneg check (attempts >= 0),
  -- Backoff after a transient provider error; null = due now.
  next_attempt_at timestamptz,
  -- The run working on the job's next page and until when; an expired lease is simply claimable again.
  lease_until timestamptz,
  run_id uuid,
  -- When a run last took the job: the claim takes the longest-waiting jobs first, so concurrent jobs advance in turn.
  claimed_at timestamptz,
  -- Why it failed; while running, the transient error being retried (cleared when a page commits).
  error text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  started_at timestamptz,
  finished_at timestamptz
);

create trigger sync_jobs_updated_at before update on public.sync_jobs
  for each row execute function public.set_updated_at();

-- At most one queued or running job per account and kind: a second enqueue gets the existing one.
create unique index sync_jobs_one_active on public.sync_jobs (account_id, kind) where status in ('queued', 'running');
-- The claim path: only active jobs are indexed, in the order the claim takes them.
create index sync_jobs_claim_order on public.sync_jobs (claimed_at nulls first, created_at, id)
  where status in ('queued', 'running');
create index sync_jobs_account_created on public.sync_jobs (account_id, created_at desc);

alter table public.sync_jobs enable row level security;
revoke all on public.sync_jobs from anon, authenticated;
grant all on public.sync_jobs to service_role;

-- Enqueues a sync of p_kind for an account, or returns the job already queued or running for it (created = false).
-- No row when the account does not exist. The partial unique index decides between two concurrent enqueues; the loop
-- covers the moment where the conflicting job finishes between our insert and our read.
create or replace function public.enqueue_sync_job(p_account_id uuid, p_kind text, p_now timestamptz default now())
returns table (
  id uuid, account_id uuid, kind text, status text, pages integer, items integer, error text,
  created_at timestamptz, updated_at timestamptz, finished_at timestamptz, created boolean
)
language plpgsql volatile as $$
#variable_conflict use_column
declare
  v_id uuid;
  v_created boolean;
begin
  if not exists (select 1 from public.accounts a where a.id = p_account_id) then return; end if;
  for i in 1..5 loop
    insert into public.sync_jobs as j (account_id, kind, created_at, updated_at)
    values (p_account_id, p_kind, p_now, p_now)
    on conflict (account_id, kind) where status in ('queued', 'running') do nothing
    returning j.id into v_id;
    v_created := v_id is not null;
    if v_id is null then
      select j.id into v_id from public.sync_jobs j
       where j.account_id = p_account_id and j.kind = p_kind and j.status in ('queued', 'running');
    end if;
    exit when v_id is not null;
  end loop;
  if v_id is null then
    raise exception 'sync job for account % could not be enqueued: it kept finishing under us', p_account_id
      using errcode = '40001';
  end if;
  return query
  select j.id, j.account_id, j.kind, j.status, j.pages, j.items, j.error, j.created_at, j.updated_at, j.finished_at,
         v_created
    from public.sync_jobs j where j.id = v_id;
end $$;

-- One job as the status API shows it; no row when unknown.
create or replace function public.get_sync_job(p_id uuid)
returns table (
  id uuid, account_id uuid, kind text, status text, pages integer, items integer, error text,
  created_at timestamptz, updated_at timestamptz, finished_at timestamptz
)
language sql stable as $$
  select j.id, j.account_id, j.kind, j.status, j.pages, j.items, j.error, j.created_at, j.updated_at, j.finished_at
    from public.sync_jobs j where j.id = p_id;
$$;

-- Claims up to p_limit due jobs of active accounts for one page each: queued or running, not backing off, not leased
-- by a live run. Longest-waiting first (claimed_at), so with more jobs than slots every job still advances in turn.
-- SKIP LOCKED: concurrent runs take different jobs instead of waiting.
create or replace function public.claim_sync_jobs(
  p_limit integer,
  p_lease_seconds integer,
  p_run_id uuid default null,
  p_now timestamptz default now()
) returns table (
  id uuid, account_id uuid, provider_account_id text, kind text, cursor text, pages integer, items integer,
  attempts integer
)
language sql volatile as $$
  with picked as (
    select j.id, a.unipile_account_id
      from public.sync_jobs j
      join public.accounts a on a.id = j.account_id
     where j.status in ('queued', 'running')
       and (j.next_attempt_at is null or j.next_attempt_at <= p_now)
       and (j.lease_until is null or j.lease_until <= p_now)
       -- A paused or disconnected account's jobs wait for it.
       and a.status = 'active'
     order by j.claimed_at nulls first, j.created_at, j.id
     limit greatest(p_limit, 0)
     for update of j skip locked
  )
  update public.sync_jobs j
     set status = 'running', started_at = coalesce(j.started_at, p_now), claimed_at = p_now,
         attempts = j.attempts + 1, lease_until = p_now + make_interval(secs => p_lease_seconds), run_id = p_run_id
    from picked
   where j.id = picked.id
  returning j.id, j.account_id, picked.unipile_account_id, j.kind, j.cursor, j.pages, j.items, j.attempts;
$$;

-- Applies one fetched page: upserts its relations, advances the cursor and the progress, and releases the lease, all
-- in this one statement's transaction. Guarded by the page number and cursor the caller fetched from: a page that was
-- already committed (by a run whose lease had expired, or a retried call) changes nothing and returns applied = false.
-- A null p_next_cursor completes the job (which emits sync.completed through the webhooks trigger, same transaction).
-- p_items: [{ memberId, name?, headline?, publicIdentifier?, connectedAt? }, ...]; a member listed twice counts once.
create or replace function public.commit_sync_page(
  p_job_id uuid,
  p_expected_pages integer,
  p_expected_cursor text,
  p_next_cursor text,
  p_items jsonb,
  p_now timestamptz default now()
) returns table (applied boolean, status text, pages integer, items integer)
language plpgsql volatile as $$
#variable_conflict use_column
declare
  v_job public.sync_jobs%rowtype;
  v_count integer := 0;
  v_items jsonb := case when jsonb_typeof(p_items) = 'array' then p_items else '[]'::jsonb end;
begin
  -- The row lock serialises commits of one job: a second committer of the same page waits here, then sees the page
  -- count it expected has moved on.
  select * into v_job from public.sync_jobs j where j.id = p_job_id for update;
  if not found then return; end if;
  if v_job.status <> 'running' or v_job.pages <> p_expected_pages
     or v_job.cursor is distinct from p_expected_cursor then
    return query select false, v_job.status, v_job.pages, v_job.items;
    return;
  end if;

  -- DISTINCT ON: ON CONFLICT DO UPDATE cannot touch one row twice in a statement; the last listing of a member wins.
  insert into public.linkedin_relations as r
         (account_id, member_id, name, headline, public_identifier, connected_at, synced_at)
  select distinct on (e.v ->> 'memberId')
         v_job.account_id, e.v ->> 'memberId', e.v ->> 'name', e.v ->> 'headline', e.v ->> 'publicIdentifier',
         (e.v ->> 'connectedAt')::timestamptz, p_now
    from jsonb_array_elements(v_items) with ordinality as e(v, ord)
   where coalesce(e.v ->> 'memberId', '') <> ''
   order by e.v ->> 'memberId', e.ord desc
  on conflict (account_id, member_id) do update
     set name = excluded.name, headline = excluded.headline, public_identifier = excluded.public_identifier,
         connected_at = excluded.connected_at, synced_at = excluded.synced_at;
  get diagnostics v_count = row_count;

  update public.sync_jobs j
     set pages = j.pages + 1,
         items = j.items + v_count,
         cursor = p_next_cursor,
         attempts = 0,
         error = null,
         next_attempt_at = null,
         status = case when p_next_cursor is null then 'completed' else 'running' end,
         finished_at = case when p_next_cursor is null then p_now else j.finished_at end,
         -- The next page needs a new claim: other jobs get their turn first.
         lease_until = null,
         run_id = null
   where j.id = p_job_id
  returning j.status, j.pages, j.items into v_job.status, v_job.pages, v_job.items;

  return query select true, v_job.status, v_job.pages, v_job.items;
end $$;

-- Records the pages that did not commit, in one statement. Each element of p_outcomes:
--   { id, outcome: retry|failed|account|release, error?, code?, retryAfterMs?, accountStatus?, pages? }
-- retry: the job stays running and waits for the backoff (or Retry-After when longer); failed once attempts reach the
-- maximum. failed: at once (a 4xx that cannot succeed). account: the job fails with the reason and the account is
-- marked disconnected/paused (as the DM queue does), so the user sees why and can re-run after reconnecting.
-- release: claimed but not started; no attempt spent.
-- Only jobs this run still holds are touched, and a failure counts only if no page was committed since the claim
-- (`pages`, the page count at claim): a commit that finished after its caller gave up is not undone.
create or replace function public.settle_sync_jobs(
  p_run_id uuid,
  p_outcomes jsonb,
  p_max_attempts integer default 5,
  p_backoff_seconds integer[] default array[60, 300, 1800, 21600],
  p_now timestamptz default now()
) returns table (id uuid, account_id uuid, status text, outcome text)
language sql volatile as $$
  with o as (
    select x.id, x.outcome, left(coalesce(nullif(x.error, ''), x.outcome), 1000) as error, x.code,
           x."retryAfterMs" as retry_after_ms, x."accountStatus" as account_status, x.pages
      from jsonb_to_recordset(p_outcomes) as x(
        id uuid, outcome text, error text, code text, "retryAfterMs" bigint, "accountStatus" text, pages integer)
  ),
  settled as (
    update public.sync_jobs j
       set status = case
             when o.outcome in ('failed', 'account') then 'failed'
             when o.outcome = 'retry' and j.attempts >= p_max_attempts then 'failed'
             else j.status
           end,
           error = case
             when o.outcome = 'release' then j.error
             when o.outcome = 'retry' and j.attempts >= p_max_attempts then
               'gave up after ' || j.attempts || ' attempts: ' || coalesce(o.code || ': ', '') || o.error
             when o.outcome = 'account' then
               'account ' || coalesce(o.account_status, 'unavailable') || ': ' || coalesce(o.code || ': ', '') || o.error
             else coalesce(o.code || ': ', '') || o.error
           end,
           attempts = case when o.outcome = 'release' then greatest(j.attempts - 1, 0) else j.attempts end,
           next_attempt_at = case
             when o.outcome = 'retry' and j.attempts < p_max_attempts then
               p_now + make_interval(secs => greatest(
                 p_backoff_seconds[least(greatest(j.attempts, 1), cardinality(p_backoff_seconds))],
                 coalesce(o.retry_after_ms, 0) / 1000.0))
             when o.outcome = 'release' then j.next_attempt_at
             else null
           end,
           finished_at = case
             when o.outcome in ('failed', 'account') or (o.outcome = 'retry' and j.attempts >= p_max_attempts) then p_now
             else j.finished_at
           end,
           lease_until = null,
           run_id = null
      from o
     where j.id = o.id
       and j.status = 'running'
       and j.run_id is not distinct from p_run_id
       and (o.outcome = 'release' or o.pages is null or j.pages = o.pages)
    returning j.id, j.account_id, j.status, o.outcome, o.account_status, o.code, o.error
  ),
  account_marks as (
    -- The account, not the job, is at fault: stop everything for it until an operator reconnects it.
    update public.accounts a
       set status = s.account_status, status_reason = coalesce(s.code || ': ', '') || s.error
      from (select distinct on (settled.account_id) settled.account_id, settled.account_status, settled.code, settled.error
              from settled where settled.outcome = 'account' and settled.account_status in ('disconnected', 'paused')) s
     where a.id = s.account_id and a.status = 'active'
  )
  select s.id, s.account_id, s.status, s.outcome from settled s;
$$;

-- How many jobs a run could claim now (capped at p_cap: a summary figure).
create or replace function public.sync_backlog(p_now timestamptz default now(), p_cap integer default 10000)
returns integer
language sql stable as $$
  select count(*)::integer from (
    select 1 from public.sync_jobs j
      join public.accounts a on a.id = j.account_id
     where j.status in ('queued', 'running')
       and (j.next_attempt_at is null or j.next_attempt_at <= p_now)
       and (j.lease_until is null or j.lease_until <= p_now)
       and a.status = 'active'
     limit p_cap
  ) s;
$$;

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
