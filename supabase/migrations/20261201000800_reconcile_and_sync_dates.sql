-- Two repairs where one odd row stopped work it should not have stopped.
--
-- 1. Sync: one relation whose date PostgreSQL cannot read (year 0, a signed six-digit year, garbage) failed the cast
--    inside commit_sync_page, so the whole page failed, was fetched again, failed again, and the job failed after 5
--    attempts with nothing of the page stored. lib/sync/page.ts already sends only dates of years 0001..9999; the
--    SQL bound is for every other caller: a date that does not cast is stored as null and the relation is kept.
--
-- 2. Reconciliation of uncertain DMs: claim_uncertain_dms stamped reconcile_checked_at on every row it returned, and
--    the job stopped at the first row whose account has no unipile_account_id; the rows after it were stamped but
--    never looked up, and came back in the same order an hour later, so findable DMs stayed uncertain forever. The
--    claim now returns only rows it can look up, and release_uncertain_dms un-stamps the rows a run claimed but had
--    no budget left to look up.

-- null when the text is not a timestamp PostgreSQL reads (or is ±infinity): a data exception from one value must not
-- fail the statement it is in. The block is a subtransaction, but a read-only one is assigned no transaction id, so
-- a page of 1,000 relations costs no subtransaction overflow.
create or replace function public.try_timestamptz(p_value text) returns timestamptz
language plpgsql stable as $$
declare
  v timestamptz;
begin
  if p_value is null then return null; end if;
  v := p_value::timestamptz;
  return case when isfinite(v) then v end;
exception when data_exception then
  return null;
end $$;

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
  -- try_timestamptz: an unreadable date becomes null; the relation is still stored.
  insert into public.linkedin_relations as r
         (account_id, member_id, name, headline, public_identifier, connected_at, synced_at)
  select distinct on (e.v ->> 'memberId')
         v_job.account_id, e.v ->> 'memberId', e.v ->> 'name', e.v ->> 'headline', e.v ->> 'publicIdentifier',
         public.try_timestamptz(e.v ->> 'connectedAt'), p_now
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

-- Uncertain DMs due for a provider lookup: at least two minutes after the send started (a message can take a moment
-- to show up in the chat), then at most once an hour each, oldest first. Only DMs of accounts with a provider account
-- id: the others cannot be looked up, and returning them took the place of ones that can. The stamp is the claim
-- (concurrent runs never look up the same DM); a run that cannot look a row up gives it back with
-- release_uncertain_dms.
create or replace function public.claim_uncertain_dms(p_limit integer, p_now timestamptz default now())
returns table (id uuid, account_id uuid, provider_account_id text, recipient_id text, body text, attempted_at timestamptz)
language sql volatile as $$
  with c as (
    select d.id from public.dm_queue d
      join public.accounts a on a.id = d.account_id and a.status = 'active'
     where d.status = 'uncertain' and d.attempted_at is not null and d.attempted_at <= p_now - interval '2 minutes'
       and (d.reconcile_checked_at is null or d.reconcile_checked_at <= p_now - interval '1 hour')
       and coalesce(a.unipile_account_id, '') <> ''
     order by d.reconcile_checked_at nulls first, d.attempted_at
     limit p_limit
     for update of d skip locked
  )
  update public.dm_queue d set reconcile_checked_at = p_now
    from c, public.accounts a
   where d.id = c.id and a.id = d.account_id
  returning d.id, d.account_id, a.unipile_account_id, d.recipient_id, d.body, d.attempted_at;
$$;

-- Rows a run claimed at p_now but did not look up (its budget ran out): their stamp is removed, so the next run takes
-- them first instead of an hour later. Only this claim's stamp is undone (reconcile_checked_at = p_now).
create or replace function public.release_uncertain_dms(p_ids uuid[], p_now timestamptz) returns integer
language plpgsql volatile as $$
declare n integer;
begin
  update public.dm_queue d set reconcile_checked_at = null
   where d.id = any (p_ids) and d.status = 'uncertain' and d.reconcile_checked_at = p_now;
  get diagnostics n = row_count;
  return n;
end $$;

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
