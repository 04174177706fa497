-- A generic queue of the core: background tasks that belong to no account (a digest e-mail, a re-index, a cleanup),
-- named by a queue and carrying a JSON payload, drained by a job like every other queue. At least once: a task whose
-- run died is retried (handlers must be idempotent, as with pg-boss or graphile-worker); outcomes go through the
-- core's state machine (queue_transition, policy row 'task'). No caps, no rotation, no account locks: the claim is one
-- SKIP LOCKED statement, the settle one statement per batch.

create table public.tasks (
  id uuid primary key default gen_random_uuid(),
  queue text not null constraint tasks_queue_name check (queue ~ '^[a-z][a-z0-9_-]{0,62}$'),
  payload jsonb not null default '{}'::jsonb
    constraint tasks_payload_size check (pg_column_size(payload) <= 65536),
  run_at timestamptz not null default now(),
  status text not null default 'pending'
    constraint tasks_status_valid check (status in ('pending', 'running', 'done', 'failed', 'cancelled')),
  attempts integer not null default 0 constraint tasks_attempts_nonneg check (attempts >= 0),
  next_attempt_at timestamptz,
  last_error text,
  attempted_at timestamptz,
  lease_until timestamptz,
  run_id uuid,
  done_at timestamptz,
  failed_at timestamptz,
  due_at timestamptz generated always as (greatest(run_at, next_attempt_at)) stored,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create index tasks_pending_due on public.tasks (queue, due_at, id) where status = 'pending';
create index tasks_running_lease on public.tasks (lease_until) where status = 'running';
create index tasks_status on public.tasks (status, updated_at desc) where status = 'failed';
select public.queue_stamp_updated_at('tasks');

alter table public.tasks enable row level security;
revoke all on public.tasks from anon, authenticated;
grant all on public.tasks to service_role;

-- 'uncertain' is retried (uncertain_status null): a task is at least once.
insert into public.queue_policies (queue, item_table, waiting_status, active_status, done_status, uncertain_status)
values ('task', 'tasks', 'pending', 'running', 'done', null);

create function public.enqueue_task(p_queue text, p_payload jsonb default '{}'::jsonb,
                                    p_run_at timestamptz default now())
returns uuid
language sql volatile as $$
  insert into public.tasks (queue, payload, run_at) values (p_queue, coalesce(p_payload, '{}'::jsonb),
                                                             coalesce(p_run_at, now()))
  returning id;
$$;

-- A task whose run died holding it is retried like a failed attempt (the attempt counts; at the last one it fails).
create function public.reap_expired_tasks(p_queue text, p_now timestamptz default now()) returns integer
language sql volatile as $$
  with r as (
    update public.tasks d
       set status = t.status, attempts = t.attempts, next_attempt_at = t.next_attempt_at, last_error = t.last_error,
           lease_until = null, failed_at = case when t.decision = 'failed' then p_now end, updated_at = now()
      from public.tasks o
      cross join lateral public.queue_transition('task', 'retry', o.attempts, null,
        'lease expired at ' || to_char(o.lease_until at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
          || ': the run that held it ended without settling it', 'lease_expired', o.next_attempt_at, o.last_error,
        p_now) t
     where d.id = o.id and o.queue = p_queue and o.status = 'running' and o.lease_until <= p_now
       and d.status = 'running'
    returning 1
  )
  select count(*)::integer from r;
$$;

create function public.claim_due_tasks(
  p_queue text,
  p_limit integer,
  p_lease_seconds integer,
  p_run_id uuid default null,
  p_now timestamptz default now()
) returns table (id uuid, payload jsonb, attempts integer, attempted_at timestamptz)
language sql volatile as $$
  with picked as (
    select t.id from public.tasks t
     where t.queue = p_queue and t.status = 'pending' and t.due_at <= p_now
     order by t.due_at, t.id
     limit greatest(coalesce(p_limit, 0), 0)
       for update skip locked
  )
  update public.tasks d
     set status = 'running', attempts = d.attempts + 1, attempted_at = p_now,
         lease_until = p_now + make_interval(secs => p_lease_seconds), run_id = p_run_id, updated_at = now()
    from picked p
   where d.id = p.id
  returning d.id, d.payload, d.attempts, d.attempted_at;
$$;

create function public.settle_tasks(
  p_run_id uuid,
  p_outcomes jsonb,
  p_now timestamptz default now(),
  p_max_attempts integer default null,
  p_backoff_seconds integer[] default null
) returns table (id uuid, status text, outcome text, decision text)
language sql volatile as $$
  with plan as (
    select d.row_ctid, d.id, o.outcome, t.decision, t.status, t.attempts, t.next_attempt_at, t.last_error
      from public.queue_outcomes(p_outcomes) o
      cross join lateral (select d.ctid as row_ctid, d.id, d.attempts, d.next_attempt_at, d.last_error, d.status,
                                 d.run_id
                            from public.tasks d where d.id = o.id
                           -- A fence: kept a lookup per outcome, never flattened into a join the planner reorders.
                           offset 0) d
      cross join lateral public.queue_transition('task', o.outcome, d.attempts, o.retry_after_ms, o.error, o.code,
                                                 d.next_attempt_at, d.last_error, p_now, p_max_attempts,
                                                 p_backoff_seconds) t
     where d.status = 'running' and d.run_id is not distinct from p_run_id
  )
  update public.tasks d
     set status = p.status, attempts = p.attempts, next_attempt_at = p.next_attempt_at, last_error = p.last_error,
         lease_until = null, updated_at = now(),
         attempted_at = case when p.decision = 'released' then null else d.attempted_at end,
         done_at = case when p.decision = 'done' then p_now else d.done_at end,
         failed_at = case when p.decision = 'failed' then p_now else d.failed_at end
    from plan p
   -- By the row's address: a planner reading stale statistics may otherwise walk a partial index of the whole table.
   -- A row updated meanwhile is followed to its latest version and the conditions below are checked again.
   where d.ctid = p.row_ctid and d.id = p.id and d.status = 'running' and d.run_id is not distinct from p_run_id
  returning d.id, d.status, p.outcome, p.decision;
$$;

create function public.task_backlog(p_queue text, p_now timestamptz default now(), p_cap integer default 10000)
returns integer
language sql stable as $$
  select count(*)::integer from (
    select 1 from public.tasks t
     where t.queue = p_queue and t.status = 'pending' and t.due_at <= p_now
     limit p_cap
  ) s;
$$;

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
