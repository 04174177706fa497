-- Zero-work runs (issue 13, target 9). Two jobs run every minute (2,880 calls a day) and most calls find nothing.
-- Such a call now costs two round trips, and consecutive ones share one job_runs row:
--
--   cron_run_begin   the run start (cron_run_start: occurrence, pause flag, single-flight lease) plus the job's probe,
--                    a cheap SQL function saying whether anything could be due; when it says no, the job returns at
--                    once (lib/cron/queue-job.ts) without reaping, claiming or counting its backlog.
--   cron_run_end     the run finish (cron_run_finish) plus the collapse: a zero-work call whose job's latest other row
--                    is a zero-work row of the same kind (status, trigger, depth, skip reason) is folded into that row:
--                    calls + 1, started_at = the latest call's start, first_started_at = the first call's. So
--                    /admin, /api/health and retention, which read a job's last run as its newest started_at, see
--                    every call, and an idle job's history is one row however long it idles.
--
-- A skipped call (job paused, lease held) collapses the same way inside cron_run_begin: one round trip.
--
-- The probe must never say "nothing" when the claim would find something (that would delay work until the next call
-- with a "yes"); a false "something" only costs a normal run. Each probe restates its queue's claim conditions, read
-- from queue_policies for the queues of queue_define, and tests/zero-work.test.ts holds every probe to its claim.
--
-- One record per occurrence still holds after a collapse: the collapsed row carries the latest call's execution id
-- (so it stays in job_runs_occurrence), and the ids of the earlier calls it absorbed move to job_run_occurrences,
-- which cron_run_begin also consults. Those keys are kept one day: a delivery of an occurrence later than that runs.

alter table public.job_runs
  -- How many calls this row records: 1, or more for consecutive zero-work calls collapsed into it.
  add column calls integer not null default 1 constraint job_runs_calls_positive check (calls >= 1),
  -- The first call's start when calls > 1 (started_at is the latest call's); null for a single call.
  add column first_started_at timestamptz,
  -- The run did nothing and changed nothing (a later zero-work call may collapse into it).
  add column zero_work boolean not null default false;

-- No foreign key to job_runs: the run log stays truncatable on its own, and a key outlives nothing it matters for (it
-- counts for a day, while retention keeps every run at least two).
create table public.job_run_occurrences (
  job text not null,
  execution_id text not null,
  -- The collapsed row that recorded the call: what a duplicate delivery is answered with.
  run_id uuid not null,
  -- When that call started: a key counts for a day, and older ones are dropped as new ones come in.
  recorded_at timestamptz not null,
  primary key (job, execution_id)
);
create index job_run_occurrences_recorded on public.job_run_occurrences (job, recorded_at);

alter table public.job_run_occurrences enable row level security;
revoke all on public.job_run_occurrences from anon, authenticated;
grant all on public.job_run_occurrences to service_role;

-- Folds the zero-work row p_run_id into its job's latest other row when that row is a zero-work row of the same kind;
-- otherwise marks p_run_id as zero-work so that the next call may fold into it. Returns the row that now records the
-- call, with its call count and first call.
create function public.cron_run_collapse(p_run_id uuid, p_now timestamptz default now())
returns table (run_id uuid, calls integer, first_started_at timestamptz)
language plpgsql as $$
#variable_conflict use_column
declare
  v_new public.job_runs%rowtype;
  v_prev public.job_runs%rowtype;
  v_newer boolean;
  v_keep_exec text;
  v_moved_exec text;
begin
  select * into v_new from public.job_runs r where r.id = p_run_id;
  if v_new.id is null then return; end if;
  -- The job's newest other row, locked: two zero-work calls finishing at once fold one after the other. A running
  -- row or a row that did work is newest? Then this call starts a new row.
  select * into v_prev from public.job_runs r
   where r.job = v_new.job and r.id <> v_new.id
   order by r.started_at desc, r.id desc
   limit 1
   for update;
  if v_prev.id is null or not v_prev.zero_work or v_prev.status <> v_new.status or v_prev.trigger <> v_new.trigger
     or v_prev.depth <> v_new.depth or (v_prev.summary ->> 'reason') is distinct from (v_new.summary ->> 'reason') then
    update public.job_runs r set zero_work = true where r.id = v_new.id;
    return query select v_new.id, v_new.calls, v_new.first_started_at;
    return;
  end if;

  v_newer := v_new.started_at >= v_prev.started_at;
  -- The collapsed row keeps the newest call's execution id; the other one, if it held its occurrence ('ok'), becomes
  -- a key of job_run_occurrences pointing at the collapsed row.
  v_keep_exec := case when v_newer then coalesce(v_new.execution_id, v_prev.execution_id)
                      else coalesce(v_prev.execution_id, v_new.execution_id) end;
  v_moved_exec := case when v_keep_exec is not distinct from v_new.execution_id then v_prev.execution_id
                       else v_new.execution_id end;
  -- First the new row goes: it may hold the very execution id the collapsed row takes over (the unique index).
  delete from public.job_runs r where r.id = v_new.id;
  if v_moved_exec is not null and v_moved_exec is distinct from v_keep_exec and v_new.status = 'ok' then
    insert into public.job_run_occurrences (job, execution_id, run_id, recorded_at)
    values (v_new.job, v_moved_exec, v_prev.id, least(v_new.started_at, v_prev.started_at))
    on conflict (job, execution_id) do update set run_id = excluded.run_id, recorded_at = excluded.recorded_at;
    delete from public.job_run_occurrences o
     where o.job = v_new.job and o.recorded_at < p_now - interval '1 day';
  end if;
  return query
  update public.job_runs r
     set calls = v_prev.calls + v_new.calls,
         first_started_at = least(coalesce(v_prev.first_started_at, v_prev.started_at),
                                  coalesce(v_new.first_started_at, v_new.started_at)),
         started_at = greatest(v_prev.started_at, v_new.started_at),
         finished_at = greatest(v_prev.finished_at, v_new.finished_at),
         execution_id = v_keep_exec,
         scheduled_at = case when v_newer then coalesce(v_new.scheduled_at, v_prev.scheduled_at) else v_prev.scheduled_at end,
         duration_ms = case when v_newer then v_new.duration_ms else v_prev.duration_ms end,
         budget_ms = case when v_newer then v_new.budget_ms else v_prev.budget_ms end,
         summary = case when not v_newer then v_prev.summary
                        when v_new.summary ? 'runId' then v_new.summary || jsonb_build_object('runId', v_prev.id)
                        else v_new.summary end
   where r.id = v_prev.id
  returning r.id, r.calls, r.first_started_at;
end $$;

-- Calls a job's probe: public.<p_probe>(p_now timestamptz) returns boolean. Unknown name → error (a typo must not
-- pass as "nothing due"); a null answer counts as "something may be due".
create function public.cron_probe(p_probe text, p_now timestamptz default now())
returns boolean
language plpgsql as $$
declare v_due boolean;
begin
  if p_probe is null or p_probe !~ '^[a-z][a-z0-9_]{0,62}$'
     or to_regprocedure(format('public.%I(timestamptz)', p_probe)) is null then
    raise exception 'cron_probe: no probe function public.%(timestamptz)', coalesce(p_probe, 'null')
      using errcode = '42883';
  end if;
  execute format('select public.%I($1)', p_probe) into v_due using p_now;
  return coalesce(v_due, true);
end $$;

-- Concurrent finishes of one job must not deadlock: each writes its own run row and then folds it into the job's newest
-- other row, so two calls finishing at once would wait for each other. Every finish, and a skipped call's collapse,
-- first takes the job's lock (its cron_state row) and only then touches a run row of the job.
-- Serializes the finishes of one job: its cron_state row (cron_run_start creates it), locked until the transaction
-- ends. Short: a finish holds it for one statement's worth of work.
create function public.cron_job_lock(p_job text) returns void
language sql as $$
  select 1 from public.cron_state s where s.job = p_job for update;
$$;

-- The run start in one round trip: cron_run_start, then (a) a delivery of an occurrence an earlier call holds through
-- job_run_occurrences is a duplicate, (b) a skipped call collapses into the previous skipped call of the same reason,
-- (c) a running call gets its probe's answer in `due` (null when the job has no probe).
create function public.cron_run_begin(
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

-- The run finish in one round trip: cron_run_finish (summary, lease released), then, for a zero-work call that ended
-- 'ok', the collapse. Returns the row that records the call.
create function public.cron_run_end(
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
  -- The job's lock before this run's own row is written (cron_run_finish): see cron_job_lock.
  perform public.cron_job_lock(r.job) from public.job_runs r where r.id = p_run_id;
  perform public.cron_run_finish(p_run_id, p_status, p_summary, p_error, p_now);
  if p_zero_work and p_status = 'ok' and p_error is null then
    return query select * from public.cron_run_collapse(p_run_id, p_now);
  else
    return query select r.id, r.calls, r.first_started_at from public.job_runs r where r.id = p_run_id;
  end if;
end $$;

-- The probes. Each restates the conditions of its queue's claim (and reaper, and reconciliation): true when a run
-- could find something. Over-answering is allowed (caps, windows and pacing are left to the claim).

-- A queue of queue_define: a waiting item due for an active account that is not resting (the claim's first step), or
-- an item whose lease expired (the reaper). The names come from the queue's policy row, as the claim's were.
create function public.queue_probe(p_queue text, p_now timestamptz default now())
returns boolean
language plpgsql stable as $$
declare
  q public.queue_policies%rowtype;
  v boolean;
begin
  select * into q from public.queue_policies p where p.queue = p_queue and p.account_keyed;
  if q.queue is null then
    raise exception 'queue_probe: % is not a queue of queue_define', coalesce(p_queue, 'null') using errcode = '22023';
  end if;
  execute format(
    $q$select exists (select 1 from public.accounts a
                       where a.status = 'active' %s
                         and exists (select 1 from public.%I d
                                      where d.account_id = a.id and d.status = %L and d.due_at <= $1))
           or exists (select 1 from public.%I d where d.status = %L and d.lease_until <= $1)$q$,
    case when q.resume_column is null then ''
         else format('and (a.%1$I is null or a.%1$I <= $1)', q.resume_column) end,
    q.item_table, q.waiting_status, q.item_table, q.active_status)
  into v using p_now;
  return v;
end $$;

-- DMs: the queue, or an uncertain DM due for a provider lookup (claim_uncertain_dms' conditions).
create function public.dm_probe(p_now timestamptz default now())
returns boolean
language sql stable as $$
  select public.queue_probe('dm', p_now)
      or exists (select 1 from public.dm_queue d
                   join public.accounts a on a.id = d.account_id and a.status = 'active'
                  where d.status = 'uncertain' and d.attempted_at is not null
                    and d.attempted_at <= p_now - interval '2 minutes'
                    and (d.reconcile_checked_at is null or d.reconcile_checked_at <= p_now - interval '1 hour')
                    and coalesce(a.unipile_account_id, '') <> '');
$$;

create function public.post_probe(p_now timestamptz default now())
returns boolean
language sql stable as $$
  select public.queue_probe('post', p_now);
$$;

create function public.invitation_probe(p_now timestamptz default now())
returns boolean
language sql stable as $$
  select public.queue_probe('invitation', p_now);
$$;

-- Webhook deliveries (claim_webhook_deliveries): pending and due, or delivering with an expired lease, for an
-- enabled endpoint.
create function public.webhook_probe(p_now timestamptz default now())
returns boolean
language sql stable as $$
  select exists (select 1 from public.webhook_deliveries d
                   join public.webhook_endpoints e on e.id = d.endpoint_id and e.enabled
                  where d.status = 'pending' and (d.next_attempt_at is null or d.next_attempt_at <= p_now))
      or exists (select 1 from public.webhook_deliveries d
                   join public.webhook_endpoints e on e.id = d.endpoint_id and e.enabled
                  where d.status = 'delivering' and d.lease_until <= p_now);
$$;

-- Sync jobs (claim_sync_jobs): queued or running, not backing off, not leased by a live run, of an active account.
create function public.sync_probe(p_now timestamptz default now())
returns boolean
language sql stable as $$
  select exists (select 1 from public.sync_jobs j
                   join public.accounts a on a.id = j.account_id and a.status = 'active'
                  where j.status in ('queued', 'running')
                    and (j.next_attempt_at is null or j.next_attempt_at <= p_now)
                    and (j.lease_until is null or j.lease_until <= p_now));
$$;

-- The run log for /admin: also how many calls a row records and since when.
drop function public.admin_recent_runs(text, text, integer);
create function public.admin_recent_runs(
  p_job text default null,
  p_status text default null,
  p_limit integer default 50
) returns table (
  id uuid, job text, trigger text, status text, started_at timestamptz, finished_at timestamptz, duration_ms integer,
  claimed integer, succeeded integer, failed integer, retried integer, uncertain integer, remaining integer,
  depth integer, reason text, error text, calls integer, first_started_at timestamptz
)
language sql stable as $$
  select r.id, r.job, r.trigger, r.status, r.started_at, r.finished_at, r.duration_ms,
         r.claimed, r.succeeded, r.failed, r.retried, r.uncertain, r.remaining, r.depth, r.summary ->> 'reason', r.error,
         r.calls, r.first_started_at
    from public.job_runs r
   where (p_job is null or r.job = p_job) and (p_status is null or r.status = p_status)
   order by r.started_at desc
   limit least(greatest(coalesce(p_limit, 50), 1), 500);
$$;

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
