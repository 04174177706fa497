-- Nightly analytics: per account per UTC day into daily_stats, then the platform roll-up into daily_platform_stats.
-- Called by jobs/analytics.ts, one chunk of accounts per call. Every figure is recomputed from the source rows (never
-- incremented), and the resume cursor moves in the same statement as the chunk's upserts, so a run killed at any point
-- resumes exactly where it stopped and re-running a chunk cannot double-count.

-- Per-day progress. A day is 'complete' once its last chunk is done and it has been rolled up; until then the cursor
-- is the last account aggregated (accounts are walked in id order).
create table public.analytics_days (
  day date primary key,
  status text not null default 'pending'
    constraint analytics_days_status_valid check (status in ('pending', 'complete')),
  cursor_account_id uuid,
  chunks integer not null default 0,
  accounts integer not null default 0,
  started_at timestamptz not null default now(),
  completed_at timestamptz,
  updated_at timestamptz not null default now()
);

create trigger analytics_days_updated_at before update on public.analytics_days
  for each row execute function public.set_updated_at();

alter table public.analytics_days enable row level security;
revoke all on public.analytics_days from anon, authenticated;
grant all on public.analytics_days to service_role;

-- A chunk counts each of its accounts' rows for one day with an index range scan on (account_id, timestamp): the work
-- is proportional to the chunk's rows, however large the table. The (timestamp, account_id) indexes of the earlier
-- migrations would make every chunk scan the whole day (1,000,000 rows × every chunk).
create index dm_queue_stats_sent on public.dm_queue (account_id, sent_at) where status = 'sent';
create index dm_queue_stats_failed on public.dm_queue (account_id, failed_at) where status = 'failed';
-- An uncertain DM counts on the day its send started.
create index dm_queue_stats_uncertain on public.dm_queue (account_id, attempted_at) where status = 'uncertain';
create index posts_stats_published on public.posts (account_id, published_at) where status = 'published';
create index posts_stats_failed on public.posts (account_id, failed_at) where status = 'failed';

-- The work list: yesterday, plus every earlier day of the last p_lookback_days that is not complete (a missed night
-- catches up). Today is never on it: its figures are still moving. Oldest first, so roll-ups appear in order.
create or replace function public.analytics_plan_days(p_now timestamptz default now(), p_lookback_days integer default 7)
returns table (day date, cursor_account_id uuid, accounts integer)
language plpgsql volatile as $$
#variable_conflict use_column
declare
  v_today constant date := (p_now at time zone 'UTC')::date;
begin
  insert into public.analytics_days (day, started_at)
  select v_today - g, p_now from generate_series(1, greatest(p_lookback_days, 1)) g
  on conflict (day) do nothing;

  return query
  select d.day, d.cursor_account_id, d.accounts
    from public.analytics_days d
   where d.status = 'pending' and d.day < v_today and d.day >= v_today - greatest(p_lookback_days, 1)
   order by d.day;
end $$;

-- Aggregates the next p_limit accounts (after the day's cursor, in id order) for one UTC day, and in the same
-- statement advances the cursor; when no account is left the day is marked complete and rolled up. Returns the
-- chunk's size, the new cursor and whether the day is done. Safe to call concurrently: the day's row is locked first,
-- so a second caller waits, then continues after the first one's cursor.
create or replace function public.analytics_run_chunk(p_day date, p_limit integer, p_now timestamptz default now())
returns table (day date, accounts integer, last_account_id uuid, day_done boolean)
language plpgsql volatile as $$
#variable_conflict use_column
declare
  -- Half-open UTC interval: a row stamped exactly at midnight belongs to the day that starts then.
  v_start constant timestamptz := p_day::timestamp at time zone 'UTC';
  v_end constant timestamptz := (p_day + 1)::timestamp at time zone 'UTC';
  v_status text;
  v_cursor uuid;
  v_ids uuid[];
  v_last uuid;
  v_done boolean;
begin
  if p_day >= (p_now at time zone 'UTC')::date then
    raise exception 'analytics: % is not over yet at %, so it cannot be finalised', p_day, p_now using errcode = '22023';
  end if;

  insert into public.analytics_days (day, started_at) values (p_day, p_now) on conflict (day) do nothing;
  -- The lock serialises chunks of one day; FOR UPDATE returns the latest committed cursor after waiting.
  select d.status, d.cursor_account_id into v_status, v_cursor
    from public.analytics_days d where d.day = p_day for update;
  if v_status = 'complete' then
    return query select p_day, 0, v_cursor, true;
    return;
  end if;

  -- Keyset, not OFFSET: the next chunk starts after the cursor through the primary key, in constant time.
  select array_agg(s.id order by s.id) into v_ids
    from (select a.id from public.accounts a
           where a.id > coalesce(v_cursor, '00000000-0000-0000-0000-000000000000'::uuid)
           order by a.id
           limit greatest(p_limit, 1)) s;

  if v_ids is not null then
    v_last := v_ids[cardinality(v_ids)];
    with counts as (
      select c.account_id,
             (select count(*) from public.dm_queue q
               where q.account_id = c.account_id and q.status = 'sent'
                 and q.sent_at >= v_start and q.sent_at < v_end)::integer as dms_sent,
             (select count(*) from public.dm_queue q
               where q.account_id = c.account_id and q.status = 'failed'
                 and q.failed_at >= v_start and q.failed_at < v_end)::integer as dms_failed,
             (select count(*) from public.dm_queue q
               where q.account_id = c.account_id and q.status = 'uncertain'
                 and q.attempted_at >= v_start and q.attempted_at < v_end)::integer as dms_uncertain,
             (select count(*) from public.posts p
               where p.account_id = c.account_id and p.status = 'published'
                 and p.published_at >= v_start and p.published_at < v_end)::integer as posts_published,
             (select count(*) from public.posts p
               where p.account_id = c.account_id and p.status = 'failed'
                 and p.failed_at >= v_start and p.failed_at < v_end)::integer as posts_failed
        from unnest(v_ids) as c(account_id)
    ),
    upserted as (
      -- Only accounts with activity get a row; the figures replace what a previous computation wrote.
      insert into public.daily_stats as t
             (day, account_id, dms_sent, dms_failed, dms_uncertain, posts_published, posts_failed, computed_at)
      select p_day, c.account_id, c.dms_sent, c.dms_failed, c.dms_uncertain, c.posts_published, c.posts_failed, p_now
        from counts c
       where c.dms_sent + c.dms_failed + c.dms_uncertain + c.posts_published + c.posts_failed > 0
      on conflict (day, account_id) do update
         set dms_sent = excluded.dms_sent, dms_failed = excluded.dms_failed, dms_uncertain = excluded.dms_uncertain,
             posts_published = excluded.posts_published, posts_failed = excluded.posts_failed,
             computed_at = excluded.computed_at
      returning t.account_id
    )
    -- A recomputed day (analytics_reset_day) whose source rows went away leaves no stale row behind.
    delete from public.daily_stats t
     using counts c
     where t.day = p_day and t.account_id = c.account_id
       and c.dms_sent + c.dms_failed + c.dms_uncertain + c.posts_published + c.posts_failed = 0;
  end if;

  v_done := v_last is null or not exists (select 1 from public.accounts a where a.id > v_last);

  update public.analytics_days d
     set cursor_account_id = coalesce(v_last, d.cursor_account_id),
         chunks = d.chunks + 1,
         accounts = d.accounts + coalesce(cardinality(v_ids), 0),
         status = case when v_done then 'complete' else 'pending' end,
         completed_at = case when v_done then p_now end
   where d.day = p_day;

  if v_done then
    -- The roll-up reads the day's finished per-account rows, in the same transaction that completes the day.
    insert into public.daily_platform_stats as t
           (day, accounts, dms_sent, dms_failed, dms_uncertain, posts_published, posts_failed, computed_at)
    select p_day, count(*)::integer, coalesce(sum(s.dms_sent), 0)::integer, coalesce(sum(s.dms_failed), 0)::integer,
           coalesce(sum(s.dms_uncertain), 0)::integer, coalesce(sum(s.posts_published), 0)::integer,
           coalesce(sum(s.posts_failed), 0)::integer, p_now
      from public.daily_stats s
     where s.day = p_day
    on conflict (day) do update
       set accounts = excluded.accounts, dms_sent = excluded.dms_sent, dms_failed = excluded.dms_failed,
           dms_uncertain = excluded.dms_uncertain, posts_published = excluded.posts_published,
           posts_failed = excluded.posts_failed, computed_at = excluded.computed_at;
  end if;

  return query select p_day, coalesce(cardinality(v_ids), 0), coalesce(v_last, v_cursor), v_done;
end $$;

-- Puts a finished (or half-done) day back on the work list from the first account, e.g. after late corrections to
-- its source rows. Its figures stay readable meanwhile and are replaced chunk by chunk.
create or replace function public.analytics_reset_day(p_day date) returns boolean
language plpgsql as $$
begin
  update public.analytics_days d
     set status = 'pending', cursor_account_id = null, chunks = 0, accounts = 0, completed_at = null
   where d.day = p_day;
  return found;
end $$;

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
