-- One record per occurrence (issue "Vercel Schedules beside Cron Jobs"). Vercel gives every run of a schedule an
-- execution ID, "the same for every delivery of that occurrence" (/docs/schedules/concepts); another scheduler may
-- retry one scheduled run too. The route derives that ID (lib/cron/occurrence.ts) and cron_run_start keeps at most one
-- started run per (job, execution ID): a second delivery gets the first run's id back and does nothing.
--
-- A run row holds its occurrence while it is 'running', 'ok' or 'partial'. A delivery that failed to start releases
-- it: one that was skipped (job paused, single-flight lease held by another run) never began the work, and one that
-- ended 'error' released every item it had claimed (route contract), items already handed to the provider turning
-- 'uncertain' by their lease, never re-sent. A later delivery of that occurrence then runs: it is the retry that
-- Vercel's path targets do not make themselves.

alter table public.job_runs
  add column execution_id text
    constraint job_runs_execution_id_bounded check (execution_id is null or length(execution_id) between 1 and 300),
  -- The slot the delivery was for (without jitter), when the scheduler says or the route could derive it.
  add column scheduled_at timestamptz;

alter table public.job_runs drop constraint job_runs_trigger_valid;
alter table public.job_runs add constraint job_runs_trigger_valid
  check (trigger in ('cron', 'external', 'manual', 'continuation'));

-- The dedupe itself: concurrent deliveries of one occurrence race on this index, and the losers' insert does nothing.
-- Its predicate is the "holds the occurrence" rule above, so a row that ends skipped or error leaves the index.
create unique index job_runs_occurrence on public.job_runs (job, execution_id)
  where execution_id is not null and status in ('running', 'ok', 'partial');

drop function public.cron_run_start(text, text, integer, boolean, integer, integer, timestamptz);

create function public.cron_run_start(
  p_job text,
  p_trigger text,
  p_budget_ms integer,
  p_single_flight boolean default false,
  p_lease_seconds integer default 360,
  p_depth integer default 0,
  p_now timestamptz default now(),
  p_execution_id text default null,
  p_scheduled_at timestamptz default null
) returns table(run_id uuid, status text, reason text)
language plpgsql as $$
-- The result column "status" shares its name with job_runs.status in the ON CONFLICT predicate: columns win.
#variable_conflict use_column
declare
  v_run uuid := gen_random_uuid();
  v_first uuid;
  v_enabled boolean;
  v_locked boolean := true;
  v_reason text;
  v_claimed boolean := false;
begin
  insert into public.cron_state (job) values (p_job) on conflict (job) do nothing;

  if p_execution_id is not null then
    -- Claim the occurrence before anything else: a duplicate takes neither the lease nor any item. A loser waits here
    -- for the winner's transaction; if the winner ends up skipped (paused, locked) its row leaves the index and the
    -- loser's row goes in instead. The loop covers a holder that finished as 'error' between our two statements.
    for i in 1..3 loop
      insert into public.job_runs (id, job, trigger, status, started_at, budget_ms, depth, execution_id, scheduled_at)
      values (v_run, p_job, p_trigger, 'running', p_now, p_budget_ms, p_depth, p_execution_id, p_scheduled_at)
      on conflict (job, execution_id) where execution_id is not null and status in ('running', 'ok', 'partial')
      do nothing;
      v_claimed := found;
      exit when v_claimed;
      select r.id into v_first from public.job_runs r
       where r.job = p_job and r.execution_id = p_execution_id and r.status in ('running', 'ok', 'partial')
       order by r.started_at limit 1;
      if v_first is not null then
        return query select v_first, 'skipped'::text, 'duplicate_delivery'::text;
        return;
      end if;
    end loop;
    if not v_claimed then
      raise exception 'cron_run_start: occurrence % of % could be neither claimed nor found', p_execution_id, p_job;
    end if;
  end if;

  select s.enabled into v_enabled from public.cron_state s where s.job = p_job;
  if not v_enabled then
    v_reason := 'paused';
  elsif p_single_flight then
    update public.cron_state s
       set lock_until = p_now + make_interval(secs => p_lease_seconds), lock_run_id = v_run
     where s.job = p_job and (s.lock_until is null or s.lock_until <= p_now);
    v_locked := found;
    if not v_locked then v_reason := 'locked'; end if;
  end if;

  if v_reason is not null then
    if p_execution_id is not null then
      -- Skipped: the row stays as the record of this delivery but no longer holds the occurrence.
      update public.job_runs r
         set status = 'skipped', finished_at = p_now, duration_ms = 0, summary = jsonb_build_object('reason', v_reason)
       where r.id = v_run;
    else
      insert into public.job_runs (id, job, trigger, status, started_at, finished_at, duration_ms, budget_ms, depth, summary)
      values (v_run, p_job, p_trigger, 'skipped', p_now, p_now, 0, p_budget_ms, p_depth, jsonb_build_object('reason', v_reason));
    end if;
    return query select v_run, 'skipped'::text, v_reason;
    return;
  end if;

  if p_execution_id is null then
    insert into public.job_runs (id, job, trigger, status, started_at, budget_ms, depth)
    values (v_run, p_job, p_trigger, 'running', p_now, p_budget_ms, p_depth);
  end if;
  return query select v_run, 'running'::text, null::text;
end $$;

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
