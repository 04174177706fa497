-- Why an item is not moving (issue 15), for every account-keyed queue of queue_define: one reason per item, computed
-- from the same per-account rules the claim reads (<singular>_account_state, written by queue_define in
-- 20261202000100): if the claim's rules change there, the explanation changes with them.
--
--   queue_explain(queue, ids, now, job)        one row per item found: id, status, reason, detail (jsonb)
--   queue_waiting_reasons(queue, now, job)     the waiting items counted by reason, with a few examples of each
--
-- Reasons of a waiting item, first match wins (the order the claim and the job check them in):
--   job_paused            the job that drains the queue is paused (cron_state.enabled = false): no run claims anything
--   account_disconnected  the account's status is 'disconnected' (since when, why)
--   account_paused        the account's status is 'paused'
--   scheduled             its send time (due_at) is in the future
--   backoff               a retryable failure: the next attempt is in the future (attempt n of max, last error)
--   the account rests (resume_at in the future):
--     cap_reached         nothing left of the local day's / week's cap (used/limit, resets at period_end)
--     outside_window      the sending window is closed and the account rests until it opens
--     pacing              the minimum interval after the account's last call (next slot = resume_at)
--     retry_after         anything else: a rate limit's cool-down (until resume_at)
--   the account may be claimed for now:
--     outside_window      the local hour is outside the window (opens at window_opens_at)
--     cap_reached         more items of the account are due ahead of it than its cap has left (its turn > remaining)
--     pacing              a paced account sends one item per claim: this one's turn is later
--     due                 the next claim takes it
-- Other statuses: leased (the active status: by run X until lease_until), uncertain (what the operator can do), failed,
-- done, cancelled, draft.
--
-- Identifiers come from queue_policies and are quoted with %I, status words with %L (as in admin_generic).

-- "Since when" an account is paused or disconnected: stamped whenever its status changes (null: before this column).
alter table public.accounts add column if not exists status_changed_at timestamptz;

create or replace function public.accounts_stamp_status_change() returns trigger
language plpgsql as $$
begin
  if new.status is distinct from old.status and new.status_changed_at is not distinct from old.status_changed_at then
    new.status_changed_at := now();
  end if;
  return new;
end $$;

drop trigger if exists accounts_status_changed on public.accounts;
create trigger accounts_status_changed before update of status on public.accounts
  for each row execute function public.accounts_stamp_status_change();

-- The engine of the functions below: one definition. p_ids null: every waiting item of the queue (the counts);
-- otherwise the items with these ids (any status). p_job: the job that drains the queue (its pause flag), null to
-- ignore it. The claim's state is computed once per account (materialized: inlined into the join with the items it
-- recounted the cap once per item — 2.8 s for 100,000 waiting DMs over 100 accounts), and an item's detail only when
-- p_detail asks for it (the counts need none; /admin shows a few examples).
create function public.queue_explain_rows(
  p_queue text, p_ids uuid[], p_now timestamptz, p_job text, p_detail boolean
)
returns table (id uuid, account_id uuid, status text, reason text, detail jsonb, due_at timestamptz)
language plpgsql stable as $fn$
declare
  q public.queue_policies%rowtype;
  v_state text;
  v_job_paused boolean := false;
  v_job_since timestamptz;
  v_turn text;
  v_where text;
begin
  select p.* into q from public.queue_policies p where p.queue = p_queue and p.account_keyed;
  if not found then
    raise exception 'queue_explain: % is not a queue of queue_define', coalesce(p_queue, 'null') using errcode = '22023';
  end if;
  -- queue_define names it <singular>_account_state; every queue it writes so far has singular = queue name.
  v_state := p_queue || '_account_state';
  if to_regprocedure(format('public.%I(uuid[], timestamptz)', v_state)) is null then
    raise exception 'queue_explain: public.%(uuid[], timestamptz) does not exist', v_state using errcode = '42883';
  end if;
  if p_job is not null then
    select not s.enabled, s.updated_at into v_job_paused, v_job_since from public.cron_state s where s.job = p_job;
    v_job_paused := coalesce(v_job_paused, false);
  end if;

  -- An item's turn among its account's due items, in the claim's order (due_at, id). The bulk path reads the
  -- waiting items through the queue's partial index of waiting items; the ids path by primary key.
  if p_ids is null then
    v_where := format('d.status = %L', q.waiting_status);
    v_turn := format('case when i.status = %L and i.due_at <= $2 then row_number() over (
                        partition by i.account_id, (i.status = %L and i.due_at <= $2) order by i.due_at, i.id) end',
                     q.waiting_status, q.waiting_status);
  else
    v_where := 'd.id = any ($1)';
    v_turn := format('case when i.status = %L and i.due_at <= $2 then 1 + (
                        select count(*) from public.%I d2
                         where d2.account_id = i.account_id and d2.status = %L and d2.due_at <= $2
                           and (d2.due_at, d2.id) < (i.due_at, i.id)) end',
                     q.waiting_status, q.item_table, q.waiting_status);
  end if;

  return query execute format($q$
    with items as (
      select d.id, d.account_id, d.status, d.attempts, d.due_at, d.next_attempt_at, d.last_error, d.attempted_at,
             d.lease_until, d.run_id, d.failed_at, d.%3$I as done_at
        from public.%1$I d
       where %10$s
    ),
    -- Materialized: computed once per account. Inlined into the join, the state function's per-account figures (the
    -- cap recount) were evaluated once per item.
    st as materialized (
      select s.*,
             -- The account's last call: tells pacing's rest from a rate limit's (only read for paced accounts).
             case when s.min_interval > 0 and s.resume_at > $2 then
               (select max(coalesce(u.attempted_at, u.%3$I)) from public.%1$I u
                 where u.account_id = s.id and u.status in (%5$L, %6$L, 'uncertain')) end as last_call
        from public.%2$I((select coalesce(array_agg(x.account_id), '{}') from (select distinct i.account_id from items i) x), $2) s
    ),
    turned as (
      select i.*, (%7$s)::integer as turn from items i
    ),
    reasoned as (
      select t.*, s.timezone, s.account_status, s.status_reason, s.resume_at, s.cap_limit, s.used, s.remaining,
             s.period_end, s.min_interval, s.jitter, s.window_start, s.window_end, s.window_opens_at,
             a.status_changed_at,
             case
               when t.status = %4$L then
                 case
                   when $3 then 'job_paused'
                   when s.account_status = 'disconnected' then 'account_disconnected'
                   when s.account_status <> 'active' then 'account_paused'
                   when t.due_at > $2 and (t.next_attempt_at is null or t.next_attempt_at < t.due_at) then 'scheduled'
                   when t.due_at > $2 then 'backoff'
                   when s.resume_at > $2 then
                     case
                       when s.remaining <= 0 and s.resume_at <= s.period_end then 'cap_reached'
                       when not s.in_window and s.resume_at <= s.window_opens_at then 'outside_window'
                       when s.min_interval > 0 and s.last_call is not null
                            and s.resume_at <= s.last_call + make_interval(secs => s.min_interval + s.jitter + 1)
                         then 'pacing'
                       else 'retry_after'
                     end
                   when not s.in_window then 'outside_window'
                   when t.turn > s.remaining then 'cap_reached'
                   when s.min_interval > 0 and t.turn > 1 then 'pacing'
                   else 'due'
                 end
               when t.status = %6$L then 'leased'
               when t.status = 'uncertain' then 'uncertain'
               when t.status = 'failed' then 'failed'
               when t.status = %5$L then 'done'
               else t.status
             end as reason
        from turned t
        join st s on s.id = t.account_id
        join public.accounts a on a.id = t.account_id
    )
    select r.id, r.account_id, r.status, r.reason,
           case when $6 then jsonb_strip_nulls(jsonb_build_object('accountId', r.account_id, 'timezone', r.timezone) || case r.reason
             when 'job_paused' then jsonb_build_object('job', $5, 'since', $4)
             when 'account_disconnected' then jsonb_build_object('accountStatus', r.account_status,
                                                                 'since', r.status_changed_at,
                                                                 'statusReason', r.status_reason)
             when 'account_paused' then jsonb_build_object('accountStatus', r.account_status,
                                                           'since', r.status_changed_at,
                                                           'statusReason', r.status_reason)
             when 'scheduled' then jsonb_build_object('until', r.due_at)
             when 'backoff' then jsonb_build_object('until', r.next_attempt_at, 'attempt', r.attempts,
                                                    'maxAttempts', %8$s, 'lastError', left(r.last_error, 300))
             when 'cap_reached' then jsonb_build_object('until', r.period_end, 'used', r.used, 'limit', r.cap_limit,
                                                        'period', %9$L::text, 'turn', r.turn,
                                                        'remaining', r.remaining)
             when 'outside_window' then jsonb_build_object('until', r.window_opens_at,
                                                           'windowStartHour', r.window_start,
                                                           'windowEndHour', r.window_end)
             when 'pacing' then jsonb_build_object(
               'until', case when r.resume_at > $2 then r.resume_at
                             else $2 + make_interval(secs => r.min_interval * (r.turn - 1)) end,
               'minIntervalSeconds', r.min_interval, 'jitterSeconds', r.jitter, 'turn', r.turn)
             when 'retry_after' then jsonb_build_object('until', r.resume_at, 'lastError', left(r.last_error, 300))
             when 'due' then jsonb_build_object('dueAt', r.due_at, 'turn', r.turn)
             when 'leased' then jsonb_build_object('until', r.lease_until, 'runId', r.run_id,
                                                   'attemptedAt', r.attempted_at, 'expired', r.lease_until <= $2)
             when 'uncertain' then jsonb_build_object('attemptedAt', r.attempted_at, 'lastError', left(r.last_error, 300),
                                                      'actions', jsonb_build_array('retry', 'mark-sent', 'cancel'))
             when 'failed' then jsonb_build_object('failedAt', r.failed_at, 'attempts', r.attempts,
                                                   'lastError', left(r.last_error, 300),
                                                   'actions', jsonb_build_array('retry', 'mark-sent', 'cancel'))
             when 'done' then jsonb_build_object('doneAt', r.done_at)
             else '{}'::jsonb
           end) end,
           r.due_at
      from reasoned r
  $q$, q.item_table, v_state, q.done_at_column, q.waiting_status, q.done_status, q.active_status, v_turn,
       q.max_attempts, q.cap_period, v_where)
  using p_ids, p_now, v_job_paused, v_job_since, p_job, coalesce(p_detail, true);
end $fn$;

create or replace function public.queue_explain_items(p_queue text, p_ids uuid[], p_now timestamptz, p_job text)
returns table (id uuid, account_id uuid, status text, reason text, detail jsonb, due_at timestamptz)
language sql stable as $$
  select * from public.queue_explain_rows(p_queue, p_ids, p_now, p_job, true);
$$;

-- Why these items are where they are: one row per id found (unknown ids are left out).
create or replace function public.queue_explain(
  p_queue text, p_ids uuid[], p_now timestamptz default now(), p_job text default null
) returns table (id uuid, account_id uuid, status text, reason text, detail jsonb)
language sql stable as $$
  select e.id, e.account_id, e.status, e.reason, e.detail
    from public.queue_explain_items(p_queue, coalesce(p_ids, '{}'::uuid[]), p_now, p_job) e;
$$;

-- The waiting items of a queue counted by reason (exact: reads every waiting item), with up to p_examples of each
-- (soonest due first): /admin's "waiting" breakdown.
create or replace function public.queue_waiting_reasons(
  p_queue text, p_now timestamptz default now(), p_job text default null, p_examples integer default 3
) returns table (reason text, n integer, examples jsonb)
language sql stable as $$
  with e as materialized (
    select x.id, x.account_id, x.reason, row_number() over (partition by x.reason order by x.due_at, x.id) as k
      from public.queue_explain_rows(p_queue, null, p_now, p_job, false) x
  ),
  shown as materialized (
    select d.id, d.detail
      from public.queue_explain_rows(p_queue, (select coalesce(array_agg(e.id), '{}') from e where e.k <= p_examples),
                                     p_now, p_job, true) d
  )
  select e.reason, count(*)::integer,
         coalesce(jsonb_agg(jsonb_build_object('id', e.id, 'account', a.name, 'detail', s.detail)
                            order by e.k) filter (where e.k <= p_examples), '[]'::jsonb)
    from e
    join public.accounts a on a.id = e.account_id
    left join shown s on s.id = e.id
   group by e.reason
   order by count(*) desc, e.reason;
$$;

-- One item and its reason, for GET /api/<plural>/<id>: the engine's columns only (never its text, the payload
-- columns), or null when there is no such item.
create or replace function public.queue_item(
  p_queue text, p_id uuid, p_now timestamptz default now(), p_job text default null
) returns jsonb
language plpgsql stable as $fn$
declare
  q public.queue_policies%rowtype;
  v_item jsonb;
  e record;
begin
  select p.* into q from public.queue_policies p where p.queue = p_queue and p.account_keyed;
  if not found then
    raise exception 'queue_item: % is not a queue of queue_define', coalesce(p_queue, 'null') using errcode = '22023';
  end if;
  execute format(
    'select jsonb_build_object(''id'', d.id, ''queue'', %2$L::text, ''accountId'', d.account_id, ''status'', d.status,
            ''attempts'', d.attempts, ''dueAt'', d.due_at, ''nextAttemptAt'', d.next_attempt_at,
            ''attemptedAt'', d.attempted_at, ''leaseUntil'', d.lease_until, ''doneAt'', d.%3$I,
            ''failedAt'', d.failed_at, ''lastError'', left(d.last_error, 300), ''createdAt'', d.created_at,
            ''updatedAt'', d.updated_at)
       from public.%1$I d where d.id = $1', q.item_table, q.queue, q.done_at_column)
    into v_item using p_id;
  if v_item is null then return null; end if;
  select x.reason, x.detail into e from public.queue_explain_items(p_queue, array[p_id], p_now, p_job) x;
  return jsonb_build_object('item', v_item, 'reason', e.reason, 'detail', e.detail);
end $fn$;

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
