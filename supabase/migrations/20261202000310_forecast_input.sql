-- What the backlog forecast (lib/forecast, issue 15) starts from, in one round trip per queue: for each account with
-- waiting items, the claim's own per-account state (<singular>_account_state, the rules the claim reads) and its
-- waiting items grouped by when they are due, plus the job's pause flag. The forecast replays the claim's rules over
-- the job's schedule from there; it never restates them in SQL.
create or replace function public.queue_forecast_input(
  p_queue text, p_now timestamptz default now(), p_job text default null, p_account_limit integer default 1000
) returns table (account_id uuid, name text, pending jsonb, state jsonb, job_paused boolean)
language plpgsql stable as $fn$
declare
  q public.queue_policies%rowtype;
  v_paused boolean := false;
begin
  select p.* into q from public.queue_policies p where p.queue = p_queue and p.account_keyed;
  if not found then
    raise exception 'queue_forecast_input: % is not a queue of queue_define', coalesce(p_queue, 'null')
      using errcode = '22023';
  end if;
  if p_job is not null then
    select not s.enabled into v_paused from public.cron_state s where s.job = p_job;
  end if;
  return query execute format($q$
    with p as (
      select d.account_id, d.due_at, count(*)::integer as n
        from public.%1$I d where d.status = %2$L group by d.account_id, d.due_at
    ),
    acc as (
      select p.account_id, jsonb_agg(jsonb_build_array(p.due_at, p.n) order by p.due_at) as pending
        from p group by p.account_id order by p.account_id limit $2
    )
    select acc.account_id, a.name, acc.pending, to_jsonb(s), $3
      from acc
      join public.accounts a on a.id = acc.account_id
      join public.%3$I((select coalesce(array_agg(x.account_id), '{}') from acc x), $1) s on s.id = acc.account_id
     order by a.name, a.id
  $q$, q.item_table, q.waiting_status, p_queue || '_account_state')
  using p_now, p_account_limit, coalesce(v_paused, false);
end $fn$;

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
