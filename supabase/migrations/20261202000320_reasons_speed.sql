-- Why an item waits, fast on a large backlog (issue 15; 20261202000300 wrote the functions). Measured on the server
-- with 100,000 waiting DMs over 100 accounts, queue_waiting_reasons took 2.8 s: the claim's state function, inlined
-- into the join with the items, evaluated each account's figures (the cap recount) once per item, and every item's
-- detail was built though only a few examples show it. Now:
--   queue_explain_rows(queue, ids, now, job, detail)   the one definition (as queue_explain_items was), the state
--                                                      computed once per account, the detail only when asked for
--   queue_explain_items(queue, ids, now, job)          the same with the detail (queue_explain, queue_item)
--   queue_waiting_reasons                              counts without details, then the examples' details

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

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
