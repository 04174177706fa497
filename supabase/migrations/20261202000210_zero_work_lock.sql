-- Zero-work runs (20261202000200): concurrent finishes of one job could deadlock. Each cron_run_end wrote its own run
-- row (cron_run_finish) and then locked the job's newest other row to fold into it; two calls finishing at once, each
-- the other's newest row, waited for each other ("deadlock detected": one of 10 identical calls answered 500,
-- tests/faults/duplicate-deliveries.test.ts). Now every finish, and a skipped call's collapse, first takes the job's
-- lock (its cron_state row) and only then touches a run row of the job, so they queue up instead.

-- Serializes the finishes of one job: its cron_state row (cron_run_start creates it), locked until the transaction
-- ends. Short: a finish holds it for one statement's worth of work.
create function public.cron_job_lock(p_job text) returns void
language sql as $$
  select 1 from public.cron_state s where s.job = p_job for update;
$$;

create or replace function public.cron_run_begin(
  p_job text,
  p_trigger text,
  p_budget_ms integer,
  p_single_flight boolean default false,
  p_lease_seconds integer default 360,
  p_depth integer default 0,
  p_now timestamptz default now(),
  p_execution_id text default null,
  p_scheduled_at timestamptz default null,
  p_probe text default null
) returns table (run_id uuid, status text, reason text, due boolean, calls integer)
language plpgsql as $$
#variable_conflict use_column
declare
  v_run uuid;
  v_status text;
  v_reason text;
  v_holder uuid;
  v_calls integer := 1;
  v_due boolean;
begin
  select s.run_id, s.status, s.reason into v_run, v_status, v_reason
    from public.cron_run_start(p_job, p_trigger, p_budget_ms, p_single_flight, p_lease_seconds, p_depth, p_now,
                               p_execution_id, p_scheduled_at) s;

  if p_execution_id is not null and v_reason is distinct from 'duplicate_delivery' then
    -- Read after cron_run_start, in a new snapshot: a collapse that moved this id here while our insert waited for
    -- it has committed by now.
    select o.run_id into v_holder from public.job_run_occurrences o
     where o.job = p_job and o.execution_id = p_execution_id and o.recorded_at >= p_now - interval '1 day';
    if v_holder is not null then
      delete from public.job_runs r where r.id = v_run;
      update public.cron_state s set lock_until = null, lock_run_id = null
       where s.job = p_job and s.lock_run_id = v_run;
      return query select v_holder, 'skipped'::text, 'duplicate_delivery'::text, null::boolean, null::integer;
      return;
    end if;
  end if;

  if v_status = 'skipped' and v_reason in ('paused', 'locked') then
    perform public.cron_job_lock(p_job);
    select c.run_id, c.calls into v_run, v_calls from public.cron_run_collapse(v_run, p_now) c;
  elsif v_status = 'running' and p_probe is not null then
    v_due := public.cron_probe(p_probe, p_now);
  end if;
  return query select v_run, v_status, v_reason, v_due, v_calls;
end $$;

create or replace function public.cron_run_end(
  p_run_id uuid,
  p_status text,
  p_summary jsonb,
  p_error text default null,
  p_now timestamptz default now(),
  p_zero_work boolean default false
) returns table (run_id uuid, calls integer, first_started_at timestamptz)
language plpgsql as $$
#variable_conflict use_column
begin
  -- The job's lock before this run's own row is written (cron_run_finish): see above.
  perform public.cron_job_lock(r.job) from public.job_runs r where r.id = p_run_id;
  perform public.cron_run_finish(p_run_id, p_status, p_summary, p_error, p_now);
  if p_zero_work and p_status = 'ok' and p_error is null then
    return query select * from public.cron_run_collapse(p_run_id, p_now);
  else
    return query select r.id, r.calls, r.first_started_at from public.job_runs r where r.id = p_run_id;
  end if;
end $$;

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
