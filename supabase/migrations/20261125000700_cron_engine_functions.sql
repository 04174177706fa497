-- The run log, the pause flag and the single-flight lease, in one round trip at the start and one at the end.

-- Starts a run: records it and decides whether it may proceed. Returns the run id and 'running', or 'skipped' with a
-- reason (paused, or another run holds the job's lease). The lease is a conditional UPDATE, so of two concurrent
-- starts exactly one wins.
create or replace function public.cron_run_start(
  p_job text,
  p_trigger text,
  p_budget_ms integer,
  p_single_flight boolean default false,
  p_lease_seconds integer default 360,
  p_depth integer default 0,
  p_now timestamptz default now()
) returns table (run_id uuid, status text, reason text)
language plpgsql as $$
declare
  v_run uuid := gen_random_uuid();
  v_enabled boolean;
  v_locked boolean := true;
begin
  insert into public.cron_state (job) values (p_job) on conflict (job) do nothing;
  select s.enabled into v_enabled from public.cron_state s where s.job = p_job;

  if not v_enabled then
    insert into public.job_runs (id, job, trigger, status, started_at, finished_at, duration_ms, budget_ms, depth, summary)
    values (v_run, p_job, p_trigger, 'skipped', p_now, p_now, 0, p_budget_ms, p_depth, jsonb_build_object('reason', 'paused'));
    return query select v_run, 'skipped'::text, 'paused'::text;
    return;
  end if;

  if p_single_flight then
    update public.cron_state s
       set lock_until = p_now + make_interval(secs => p_lease_seconds), lock_run_id = v_run
     where s.job = p_job and (s.lock_until is null or s.lock_until <= p_now);
    v_locked := found;
  end if;

  if not v_locked then
    insert into public.job_runs (id, job, trigger, status, started_at, finished_at, duration_ms, budget_ms, depth, summary)
    values (v_run, p_job, p_trigger, 'skipped', p_now, p_now, 0, p_budget_ms, p_depth, jsonb_build_object('reason', 'locked'));
    return query select v_run, 'skipped'::text, 'locked'::text;
    return;
  end if;

  insert into public.job_runs (id, job, trigger, status, started_at, budget_ms, depth)
  values (v_run, p_job, p_trigger, 'running', p_now, p_budget_ms, p_depth);
  return query select v_run, 'running'::text, null::text;
end $$;

-- Finishes a run: stores the summary and releases the job's lease if this run holds it.
create or replace function public.cron_run_finish(
  p_run_id uuid,
  p_status text,
  p_summary jsonb,
  p_error text default null,
  p_now timestamptz default now()
) returns void
language plpgsql as $$
declare v_job text;
begin
  update public.job_runs r
     set status = p_status,
         finished_at = p_now,
         duration_ms = coalesce((p_summary ->> 'durationMs')::integer, (extract(epoch from (p_now - r.started_at)) * 1000)::integer),
         claimed = coalesce((p_summary ->> 'claimed')::integer, 0),
         succeeded = coalesce((p_summary ->> 'succeeded')::integer, 0),
         failed = coalesce((p_summary ->> 'failed')::integer, 0),
         retried = coalesce((p_summary ->> 'retried')::integer, 0),
         uncertain = coalesce((p_summary ->> 'uncertain')::integer, 0),
         remaining = coalesce((p_summary ->> 'remaining')::integer, 0),
         has_more = coalesce((p_summary ->> 'hasMore')::boolean, false),
         cursor = p_summary -> 'cursor',
         summary = p_summary,
         error = p_error
   where r.id = p_run_id
  returning r.job into v_job;

  update public.cron_state s set lock_until = null, lock_run_id = null
   where s.job = v_job and s.lock_run_id = p_run_id;
end $$;

-- Extends the single-flight lease of a long run (called between chunks).
create or replace function public.cron_extend_lease(p_run_id uuid, p_lease_seconds integer, p_now timestamptz default now())
returns boolean
language plpgsql as $$
begin
  update public.cron_state s set lock_until = p_now + make_interval(secs => p_lease_seconds)
   where s.lock_run_id = p_run_id;
  return found;
end $$;

-- Pause or resume a job: a paused job's route answers 200 with status 'skipped' and claims nothing.
create or replace function public.cron_set_enabled(p_job text, p_enabled boolean) returns void
language sql as $$
  insert into public.cron_state (job, enabled) values (p_job, p_enabled)
  on conflict (job) do update set enabled = excluded.enabled;
$$;

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
