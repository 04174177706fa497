-- The engine's cost stays flat as history grows (issue 13). queue_define (20261201000200) is rewritten here; every
-- queue it wrote is written again at the end of this file. What changes in the functions it writes:
--
-- * The cap is read from a per-account usage counter instead of counted from history. Each capped queue gets three
--   columns on accounts: <counter>_cap_start / _cap_end (the local day or week the counter is for) and _cap_used (how
--   many items count against the cap in it: done, active or uncertain, by when their call started). The counter is
--   kept by statement-level triggers on the item table (insert, update, delete, truncate), so EVERY path that moves an
--   item into or out of a counted status keeps it — the claim, settle, the reaper, reconciliation, the operator's
--   actions, imports, retention, a hand-written UPDATE. A claim recounts from history (the old way, one account at a
--   time) only when the counter is not for the current period: the first claim of a local day/week, or after the
--   account's time zone changed (which clears the period). A recount is exact: the claim holds the account's lock and
--   takes a new snapshot, and a transaction that changes counted items locks the account (in id order) after its
--   change and applies its delta to whatever period the counter holds by then.
-- * Round-robin over accounts by a cursor (queue_rotation: the last account id served) instead of re-sorting accounts
--   by a "checked" timestamp: a claim no longer rewrites an indexed column of every account it looks at (those were
--   non-HOT updates leaving dead index entries exactly where the next claim's scan starts). Fair across claims.
-- * The claim takes exactly p_limit items' worth of shares (floor(limit / accounts), one more for the first
--   limit mod accounts), so it no longer locks rows it then gives back, and it only writes an account row when its
--   resume time or its counter's period changes.
-- * Settle reads its rows by primary key, one lookup per outcome (a planner working from stale statistics chose the
--   cap-usage index of all history instead).
-- * The statements set updated_at themselves; the row trigger that stamps it runs only when a statement did not.
--   The webhook outbox triggers of dm_queue and posts become statement-level (one query per statement, not per row).

create table public.queue_rotation (
  queue text primary key references public.queue_policies (queue) on delete cascade,
  -- The last account a claim served; the next claim starts after it (wrapping around).
  last_account uuid
);
alter table public.queue_rotation enable row level security;
revoke all on public.queue_rotation from anon, authenticated;
grant all on public.queue_rotation to service_role;

-- The row trigger that stamps updated_at: skipped when the statement set the column itself.
create or replace function public.queue_stamp_updated_at(p_table text) returns void
language plpgsql volatile as $$
begin
  execute format('drop trigger if exists %I on public.%I', p_table || '_updated_at', p_table);
  execute format('create trigger %I before update on public.%I for each row '
                 'when (new.updated_at is not distinct from old.updated_at) '
                 'execute function public.set_updated_at()', p_table || '_updated_at', p_table);
end $$;

drop function public.queue_define(text, text, text, text, text, text, text, text, text[], jsonb, text, text, text, text,
                                  text, integer, integer[], integer);

create function public.queue_define(
  p_queue text,
  p_item_table text,
  -- Function names: claim_due_<plural>, settle_<plural>, reap_expired_<plural>, <singular>_backlog.
  p_plural text,
  p_singular text,
  p_waiting_status text,
  p_active_status text,
  p_done_status text,
  p_done_at_column text,
  -- Item columns the claim returns besides the engine's (their types are read from the table). The first one names
  -- what an item is sent to and the last one previews it, on the operator's pages.
  p_payload_columns text[],
  -- Columns written on 'done' from the outcome's result: column → result key, e.g. {"provider_post_id": "postId"}.
  p_done_columns jsonb,
  p_resume_column text,
  -- Unused since 20261202000100 (rotation is by queue_rotation's cursor); accepted so existing calls keep working.
  p_checked_column text default null,
  -- The cap: an integer column of accounts (null: no cap) per 'day' or 'week' of the account's time zone.
  p_cap_limit_column text default null,
  p_cap_period text default 'day',
  -- Pacing (off unless the columns are named): <prefix>_min_interval_seconds, _jitter_seconds, _window_start_hour,
  -- _window_end_hour on accounts.
  p_pacing_prefix text default null,
  p_max_attempts integer default 5,
  p_backoff_seconds integer[] default array[60, 300, 1800, 21600],
  p_retry_after_max_seconds integer default 86400,
  -- The counter's columns on accounts: <counter>_cap_start, _cap_end, _cap_used (default: the queue's name).
  p_counter_prefix text default null
) returns void
language plpgsql volatile as $def$
declare
  v_vars jsonb;
  v_fn text;
  v_payload_ret text := '';
  v_payload_d text := '';
  v_payload_c text := '';
  v_done_sets text := '';
  v_col text;
  v_key text;
  v_type text;
  v_capped boolean := p_cap_limit_column is not null;
  v_counter text := coalesce(p_counter_prefix, p_queue);
  v_counted text;
  v_state_vars jsonb;
begin
  if p_cap_period not in ('day', 'week') then raise exception 'queue_define: period must be day or week'; end if;
  insert into public.queue_policies as q (queue, max_attempts, backoff_seconds, retry_after_max_seconds, item_table,
                                          waiting_status, active_status, done_status, uncertain_status, account_keyed,
                                          done_at_column, target_column, preview_column, cap_limit_column, cap_period,
                                          resume_column)
  values (p_queue, p_max_attempts, p_backoff_seconds, p_retry_after_max_seconds, p_item_table,
          p_waiting_status, p_active_status, p_done_status, 'uncertain', true,
          p_done_at_column, p_payload_columns[1], p_payload_columns[cardinality(p_payload_columns)],
          p_cap_limit_column, case when v_capped then p_cap_period end, p_resume_column)
  on conflict (queue) do update
     set item_table = excluded.item_table, waiting_status = excluded.waiting_status,
         active_status = excluded.active_status, done_status = excluded.done_status,
         uncertain_status = excluded.uncertain_status, account_keyed = true,
         done_at_column = excluded.done_at_column, target_column = excluded.target_column,
         preview_column = excluded.preview_column, cap_limit_column = excluded.cap_limit_column,
         cap_period = excluded.cap_period, resume_column = excluded.resume_column;
  insert into public.queue_rotation (queue) values (p_queue) on conflict (queue) do nothing;

  foreach v_col in array p_payload_columns loop
    select format_type(a.atttypid, a.atttypmod) into v_type
      from pg_attribute a
     where a.attrelid = ('public.' || quote_ident(p_item_table))::regclass and a.attname = v_col and not a.attisdropped;
    if v_type is null then raise exception 'queue_define: %.% does not exist', p_item_table, v_col; end if;
    v_payload_ret := v_payload_ret || format(', %I %s', v_col, v_type);
    v_payload_d := v_payload_d || format(', d.%I', v_col);
    v_payload_c := v_payload_c || format(', c.%I', v_col);
  end loop;
  for v_col, v_key in select * from jsonb_each_text(p_done_columns) loop
    v_done_sets := v_done_sets || format(
      E',\n           %1$I = case when p.decision = ''done'' then p.result ->> %2$L else d.%1$I end', v_col, v_key);
  end loop;

  if v_capped then
    execute format('alter table public.accounts add column if not exists %I timestamptz, '
                   'add column if not exists %I timestamptz, add column if not exists %I integer not null default 0',
                   v_counter || '_cap_start', v_counter || '_cap_end', v_counter || '_cap_used');
  end if;
  v_counted := format('in (%L, %L, ''uncertain'')', p_done_status, p_active_status);

  v_vars := jsonb_build_object(
    'queue', quote_literal(p_queue),
    'table', quote_ident(p_item_table),
    'claim_fn', quote_ident('claim_due_' || p_plural),
    'settle_fn', quote_ident('settle_' || p_plural),
    'reap_fn', quote_ident('reap_expired_' || p_plural),
    'backlog_fn', quote_ident(p_singular || '_backlog'),
    'reset_fn', quote_ident('accounts_reset_' || p_queue || '_resume'),
    'count_fn', quote_ident(p_queue || '_cap_count'),
    'count_ins_fn', quote_ident(p_queue || '_cap_count_insert'),
    'count_upd_fn', quote_ident(p_queue || '_cap_count_update'),
    'count_del_fn', quote_ident(p_queue || '_cap_count_delete'),
    'count_trunc_fn', quote_ident(p_queue || '_cap_count_truncate'),
    'recount_fn', quote_ident(p_queue || '_cap_recount'),
    'state_fn', quote_ident(p_singular || '_account_state'),
    'waiting', quote_literal(p_waiting_status),
    'active', quote_literal(p_active_status),
    'done', quote_literal(p_done_status),
    'counted', v_counted,
    'active_word', p_active_status,
    'resend_word', 're-' || p_done_status,
    'done_at', quote_ident(p_done_at_column),
    'resume', quote_ident(p_resume_column),
    'cap_start', quote_ident(v_counter || '_cap_start'),
    'cap_end', quote_ident(v_counter || '_cap_end'),
    'cap_used', quote_ident(v_counter || '_cap_used'),
    'payload_ret', v_payload_ret,
    'payload_d', v_payload_d,
    'payload_c', v_payload_c,
    'done_sets', v_done_sets,
    'period', quote_literal(p_cap_period),
    'cap_limit', coalesce('a.' || quote_ident(p_cap_limit_column), 'null::integer'),
    'reset_columns', coalesce(quote_ident(p_cap_limit_column) || ', ', '') || 'status, timezone',
    'reset_when', coalesce('new.' || quote_ident(p_cap_limit_column) || ' is distinct from old.'
                           || quote_ident(p_cap_limit_column) || ' or ', '') || 'new.status is distinct from old.status',
    'reset_period', case when v_capped then format(
      E'if new.timezone is distinct from old.timezone then\n    new.%1$I := null;\n    new.%2$I := null;\n  end if;',
      v_counter || '_cap_start', v_counter || '_cap_end') else '' end,
    'min_interval', coalesce('a.' || quote_ident(p_pacing_prefix || '_min_interval_seconds'), '0'),
    'jitter', coalesce('a.' || quote_ident(p_pacing_prefix || '_jitter_seconds'), '0'),
    'window_start', coalesce('a.' || quote_ident(p_pacing_prefix || '_window_start_hour'), 'null::smallint'),
    'window_end', coalesce('a.' || quote_ident(p_pacing_prefix || '_window_end_hour'), 'null::smallint'));

  v_state_vars := case when v_capped then jsonb_build_object(
    -- The counter is for the current period when p_now lies in it; otherwise this claim recounts (the first claim of
    -- a local day or week, or after a time-zone change cleared the period).
    'acc_counter', format('(a.%1$I is not null and p_now >= a.%1$I and p_now < a.%2$I) as fresh, '
                          'a.%1$I as cap_start, a.%2$I as cap_end, a.%3$I as cap_used',
                          v_counter || '_cap_start', v_counter || '_cap_end', v_counter || '_cap_used'),
    'acc_source', format(
      E'(select acc.*, coalesce(case when acc.fresh then acc.cap_start end, w.starts) as period_start,\n'
      '              coalesce(case when acc.fresh then acc.cap_end end, w.ends) as period_end,\n'
      '              case when acc.cap_limit is null then 0 when acc.fresh then acc.cap_used\n'
      '                   else public.%I(acc.id, w.starts, w.ends) end as used\n'
      '         from acc\n'
      '         left join lateral public.queue_window(acc.timezone, %L, p_now) w on not acc.fresh) acc',
      p_queue || '_cap_recount', p_cap_period),
    'touch_counter', format(E',\n           %1$I = s.period_start, %2$I = s.period_end, %3$I = s.used',
                            v_counter || '_cap_start', v_counter || '_cap_end', v_counter || '_cap_used'),
    'touch_when', ' or not s.fresh')
  else jsonb_build_object(
    'acc_counter', 'false as fresh, null::timestamptz as period_start, null::timestamptz as period_end, 0 as used',
    'acc_source', 'acc',
    'touch_counter', '',
    'touch_when', '') end;

  -- A changed template may change a function's arguments or result: drop every older version first.
  for v_fn in
    select p.oid::regprocedure::text from pg_proc p
     where p.pronamespace = 'public'::regnamespace
       and p.proname in ('claim_due_' || p_plural, 'settle_' || p_plural, 'reap_expired_' || p_plural,
                         p_singular || '_backlog', p_queue || '_cap_recount',
                         p_singular || '_account_state')
  loop
    execute 'drop function ' || v_fn;
  end loop;

  perform public.queue_stamp_updated_at(p_item_table);

  execute public.queue_render($tpl$
create function public.{{reap_fn}}(p_now timestamptz default now()) returns integer
language plpgsql as $fn$
declare n integer;
begin
  -- The run that claimed these died (or hung) after committing the claim: the call may or may not have reached the
  -- provider, so the item is never repeated automatically. 'uncertain' is for reconciliation or the operator.
  update public.{{table}} d
     set status = 'uncertain', lease_until = null, updated_at = now(),
         last_error = 'lease expired at ' || to_char(d.lease_until at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') ||
                      ' while {{active_word}}: the outcome is unknown, so it is not {{resend_word}} automatically'
   where d.status = {{active}} and d.lease_until <= p_now;
  get diagnostics n = row_count;
  return n;
end $fn$;
$tpl$, v_vars);

  if v_capped then
    -- The counter's definition, once: what counts against the cap of an account in [p_start, p_end). The claim's
    -- recount and the property test call it; the triggers below keep _cap_used equal to it.
    execute public.queue_render($tpl$
create function public.{{recount_fn}}(p_account uuid, p_start timestamptz, p_end timestamptz) returns integer
language sql stable as $fn$
  select count(*)::integer from public.{{table}} u
   where u.account_id = p_account
     and u.status {{counted}}
     and coalesce(u.attempted_at, u.{{done_at}}) >= p_start
     and coalesce(u.attempted_at, u.{{done_at}}) < p_end;
$fn$;

-- Applies counted-item changes (+1 for a row that now counts, -1 for one that no longer does) to the counters whose
-- period holds their time. The accounts are locked first, in id order (no deadlock between two such statements), so
-- the period read is the latest committed one.
create or replace function public.{{count_fn}}(p_account uuid[], p_at timestamptz[], p_delta integer[])
returns void
language plpgsql volatile as $fn$
begin
  perform 1 from public.accounts a
   where a.id in (select distinct x from unnest(p_account) x)
   order by a.id
     for no key update;
  update public.accounts a
     set {{cap_used}} = greatest(0, a.{{cap_used}} + c.delta), updated_at = now()
    from (select ch.account_id, sum(ch.delta)::integer as delta
            from unnest(p_account, p_at, p_delta) as ch(account_id, at, delta)
            join public.accounts b on b.id = ch.account_id
           where ch.at >= b.{{cap_start}} and ch.at < b.{{cap_end}}
           group by ch.account_id
          having sum(ch.delta) <> 0) c
   where a.id = c.account_id;
end $fn$;

create or replace function public.{{count_ins_fn}}() returns trigger
language plpgsql volatile as $fn$
declare v_account uuid[]; v_at timestamptz[]; v_delta integer[];
begin
  select array_agg(n.account_id), array_agg(coalesce(n.attempted_at, n.{{done_at}})), array_agg(1)
    into v_account, v_at, v_delta
    from new_rows n where n.status {{counted}};
  if v_account is not null then perform public.{{count_fn}}(v_account, v_at, v_delta); end if;
  return null;
end $fn$;

create or replace function public.{{count_del_fn}}() returns trigger
language plpgsql volatile as $fn$
declare v_account uuid[]; v_at timestamptz[]; v_delta integer[];
begin
  select array_agg(o.account_id), array_agg(coalesce(o.attempted_at, o.{{done_at}})), array_agg(-1)
    into v_account, v_at, v_delta
    from old_rows o where o.status {{counted}};
  if v_account is not null then perform public.{{count_fn}}(v_account, v_at, v_delta); end if;
  return null;
end $fn$;

create or replace function public.{{count_upd_fn}}() returns trigger
language plpgsql volatile as $fn$
declare v_account uuid[]; v_at timestamptz[]; v_delta integer[];
begin
  -- Only rows whose account, counted-ness or time changed; a settle of sent items changes none of them.
  with ch as (
    select o.account_id as old_account, o.status {{counted}} as old_counted,
           coalesce(o.attempted_at, o.{{done_at}}) as old_at,
           n.account_id as new_account, n.status {{counted}} as new_counted,
           coalesce(n.attempted_at, n.{{done_at}}) as new_at
      from new_rows n join old_rows o on o.id = n.id
  ),
  moved as (
    select ch.old_account as account_id, ch.old_at as at, -1 as delta from ch
     where ch.old_counted and (not ch.new_counted or ch.new_account is distinct from ch.old_account
                               or ch.new_at is distinct from ch.old_at)
    union all
    select ch.new_account, ch.new_at, 1 from ch
     where ch.new_counted and (not ch.old_counted or ch.new_account is distinct from ch.old_account
                               or ch.new_at is distinct from ch.old_at)
  )
  select array_agg(m.account_id), array_agg(m.at), array_agg(m.delta) into v_account, v_at, v_delta from moved m;
  if v_account is not null then perform public.{{count_fn}}(v_account, v_at, v_delta); end if;
  return null;
end $fn$;

-- A truncated table leaves no history to count: every counter is recounted by its next claim.
create or replace function public.{{count_trunc_fn}}() returns trigger
language plpgsql volatile as $fn$
begin
  update public.accounts set {{cap_start}} = null, {{cap_end}} = null, {{cap_used}} = 0
   where {{cap_start}} is not null;
  return null;
end $fn$;

drop trigger if exists {{count_ins_fn}} on public.{{table}};
drop trigger if exists {{count_upd_fn}} on public.{{table}};
drop trigger if exists {{count_del_fn}} on public.{{table}};
drop trigger if exists {{count_trunc_fn}} on public.{{table}};
create trigger {{count_ins_fn}} after insert on public.{{table}}
  referencing new table as new_rows for each statement execute function public.{{count_ins_fn}}();
create trigger {{count_upd_fn}} after update on public.{{table}}
  referencing old table as old_rows new table as new_rows for each statement execute function public.{{count_upd_fn}}();
create trigger {{count_del_fn}} after delete on public.{{table}}
  referencing old table as old_rows for each statement execute function public.{{count_del_fn}}();
create trigger {{count_trunc_fn}} after truncate on public.{{table}}
  for each statement execute function public.{{count_trunc_fn}}();
$tpl$, v_vars);
  end if;

  -- The rules of the claim for a set of accounts, in one place: the claim reads them, and so does everything that
  -- explains why an item waits or forecasts when a backlog clears (if a rule changes here, they change with it).
  execute public.queue_render($tpl$
create function public.{{state_fn}}(p_accounts uuid[], p_now timestamptz default now())
returns table (id uuid, ord integer, k integer, timezone text, unipile_account_id text, account_status text,
               status_reason text, resume_at timestamptz, cap_limit integer, used integer, remaining integer,
               period_start timestamptz, period_end timestamptz, fresh boolean, min_interval integer, jitter integer,
               window_start integer, window_end integer, in_window boolean, window_opens_at timestamptz,
               local_now timestamp)
language sql stable as $fn$
  with acc as (
    select a.id, u.ord::integer as ord, cardinality(p_accounts) as k, a.timezone, a.unipile_account_id,
           a.status as account_status, a.status_reason, a.{{resume}} as resume_at,
           ({{cap_limit}})::integer as cap_limit,
           ({{min_interval}})::integer as min_interval, ({{jitter}})::integer as jitter,
           ({{window_start}})::integer as window_start, ({{window_end}})::integer as window_end,
           (p_now at time zone a.timezone) as local_now,
           {{acc_counter}}
      from unnest(p_accounts) with ordinality as u(id, ord)
      join public.accounts a on a.id = u.id
  ),
  c as (
    select acc.*,
           case
             when acc.window_start is null then true
             when acc.window_start < acc.window_end then
               extract(hour from acc.local_now) >= acc.window_start and extract(hour from acc.local_now) < acc.window_end
             else -- a window over midnight, e.g. 22..6
               extract(hour from acc.local_now) >= acc.window_start or extract(hour from acc.local_now) < acc.window_end
           end as in_window
      from {{acc_source}}
  )
  select c.id, c.ord, c.k, c.timezone, c.unipile_account_id, c.account_status, c.status_reason, c.resume_at,
         c.cap_limit, c.used::integer,
         (case when c.cap_limit is null then 2147483647 else greatest(0, c.cap_limit - c.used) end)::integer,
         c.period_start, c.period_end, c.fresh, c.min_interval, c.jitter, c.window_start, c.window_end, c.in_window,
         -- The next local window start (today's if still ahead, else tomorrow's).
         case when c.window_start is not null then
           (date_trunc('day', c.local_now) + make_interval(hours => c.window_start)
             + case when date_trunc('day', c.local_now) + make_interval(hours => c.window_start) <= c.local_now
                    then interval '1 day' else interval '0' end) at time zone c.timezone
         end,
         c.local_now
    from c;
$fn$;
$tpl$, v_vars || v_state_vars);

  execute public.queue_render($tpl$
create function public.{{claim_fn}}(
  p_limit integer,
  p_lease_seconds integer,
  p_run_id uuid default null,
  p_now timestamptz default now()
) returns table (id uuid, account_id uuid, provider_account_id text{{payload_ret}}, attempts integer,
                 attempted_at timestamptz, turn integer)
language plpgsql volatile as $fn$
declare
  v_cursor uuid;
  v_accounts uuid[];
begin
  if p_limit is null or p_limit < 1 then return; end if;
  select r.last_account into v_cursor from public.queue_rotation r where r.queue = {{queue}};

  -- 1. Lock up to p_limit accounts with due items, in id order after the last one served (wrapping around): fair
  --    across claims. SKIP LOCKED: a concurrent run takes other accounts instead of waiting, and two runs never claim
  --    for one account at once.
  select array_agg(x.id) into v_accounts from (
    select b1.id from (
      select a.id from public.accounts a
       where a.id > coalesce(v_cursor, '00000000-0000-0000-0000-000000000000'::uuid)
         and a.status = 'active' and (a.{{resume}} is null or a.{{resume}} <= p_now)
         and exists (select 1 from public.{{table}} q
                      where q.account_id = a.id and q.status = {{waiting}} and q.due_at <= p_now)
       order by a.id
       limit p_limit
         for update of a skip locked) b1
    union all
    -- Only read when the accounts after the cursor are fewer than p_limit (the limit below stops the scan).
    select b2.id from (
      select a.id from public.accounts a
       where v_cursor is not null and a.id <= v_cursor
         and a.status = 'active' and (a.{{resume}} is null or a.{{resume}} <= p_now)
         and exists (select 1 from public.{{table}} q
                      where q.account_id = a.id and q.status = {{waiting}} and q.due_at <= p_now)
       order by a.id
       limit p_limit
         for update of a skip locked) b2
    limit p_limit
  ) x;
  if v_accounts is null then return; end if;
  -- The cursor moves past the accounts served. A concurrent claim holding it moves it itself (never wait for it).
  update public.queue_rotation r set last_account = v_accounts[cardinality(v_accounts)]
   where r.queue = {{queue}}
     and r.ctid = (select r2.ctid from public.queue_rotation r2 where r2.queue = {{queue}} for update skip locked);

  -- 2. A new statement takes a new snapshot (this function is volatile, READ COMMITTED): every claim committed
  --    before we locked the accounts is visible, so the counters (and a recount) are exact.
  return query
  with quota as (
    -- Exactly p_limit shares: floor(limit / k) each, one more for the first (limit mod k) accounts.
    select st.*, (p_limit / st.k + case when st.ord <= p_limit % st.k then 1 else 0 end) as share
      from public.{{state_fn}}(v_accounts, p_now) st
  ),
  candidates as (
    select p.id, p.due_at, q.id as account_id, q.unipile_account_id,
           row_number() over (partition by q.id order by p.due_at, p.id)::integer as turn
      from quota q
      cross join lateral (
        select d.id, d.due_at
          from public.{{table}} d
         where d.account_id = q.id and d.status = {{waiting}} and d.due_at <= p_now
         order by d.due_at, d.id
         limit case when not q.in_window then 0
                    when q.min_interval > 0 then least(q.remaining, 1, q.share)
                    else least(q.remaining, q.share) end
         for update of d skip locked
      ) p
  ),
  claimed as (
    update public.{{table}} d
       set status = {{active}}, attempts = d.attempts + 1, attempted_at = p_now,
           lease_until = p_now + make_interval(secs => p_lease_seconds), run_id = p_run_id, updated_at = now()
      from candidates p
     where d.id = p.id
    returning d.id, d.account_id, p.unipile_account_id{{payload_d}}, d.attempts, d.attempted_at, p.turn
  ),
  per_account as (
    select c.account_id, count(*)::integer as n from claimed c group by c.account_id
  ),
  next_state as (
    select q.*,
           case
             -- Cap reached: look again when the period ends, or sooner in case a call fails or the limit is raised.
             when q.remaining - coalesce(pa.n, 0) <= 0 then least(q.period_end, p_now + interval '5 minutes')
             -- Outside the sending window: resume at the next window start.
             when not q.in_window then q.window_opens_at
             -- Pacing: the next call no sooner than the interval plus random jitter.
             when q.min_interval > 0 and coalesce(pa.n, 0) > 0 then
               p_now + make_interval(secs => q.min_interval + floor(random() * (q.jitter + 1)))
             else null
           end as new_resume
      from quota q
      left join per_account pa on pa.account_id = q.id
  ),
  -- An account row is written only when its resume time or its counter's period changes. The claimed items are
  -- added to the counter by the item table's trigger, after this statement.
  touched as (
    update public.accounts a
       set {{resume}} = s.new_resume{{touch_counter}}, updated_at = now()
      from next_state s
     where a.id = s.id
       and (s.new_resume is distinct from s.resume_at{{touch_when}})
  )
  select c.id, c.account_id, c.unipile_account_id{{payload_c}}, c.attempts, c.attempted_at, c.turn
    from claimed c
   order by c.turn, c.attempted_at, c.id;
end $fn$;
$tpl$, v_vars || v_state_vars);

  execute public.queue_render($tpl$
create function public.{{settle_fn}}(
  p_run_id uuid,
  p_outcomes jsonb,
  p_now timestamptz default now(),
  p_max_attempts integer default null,
  p_backoff_seconds integer[] default null
) returns table (id uuid, account_id uuid, status text, outcome text, decision text)
language plpgsql volatile as $fn$
-- Lock order, the same on every path: the items first (this statement), then their accounts in id order (the cap
-- counter's trigger at the end of it, and the statement below for key pauses and cool-downs). Two settles that wrote
-- accounts in their join's order before the trigger locked the rest in id order deadlocked.
declare
  v_id uuid[];
  v_account uuid[];
  v_status text[];
  v_outcome text[];
  v_decision text[];
  v_cooldown boolean[];
  v_retry_after numeric[];
  v_key_status text[];
  v_code text[];
  v_error text[];
begin
  -- Only rows this run holds are settled (active with its run id, or — for a late done/failed answer — the
  -- 'uncertain' row the reaper made of it), so a late or duplicate settle cannot overwrite another run's work.
  with o as (
    select * from public.queue_outcomes(p_outcomes)
  ),
  plan as (
    select d.row_ctid, d.id, o.outcome, o.cooldown, o.retry_after_ms, o.key_status, o.code, o.error, o.result,
           t.decision, t.status, t.attempts, t.next_attempt_at, t.last_error
      from o
      -- One primary-key lookup per outcome, whatever the statistics say.
      cross join lateral (select d.ctid as row_ctid, d.id, d.attempts, d.next_attempt_at, d.last_error, d.status,
                                 d.run_id
                            from public.{{table}} d where d.id = o.id
                           -- A fence: kept a lookup per outcome, never flattened into a join the planner reorders.
                           offset 0) d
      cross join lateral public.queue_transition({{queue}}, o.outcome, d.attempts, o.retry_after_ms, o.error, o.code,
                                                 d.next_attempt_at, d.last_error, p_now, p_max_attempts,
                                                 p_backoff_seconds) t
     where d.run_id is not distinct from p_run_id
       and (d.status = {{active}} or (d.status = 'uncertain' and t.decision in ('done', 'failed')))
  ),
  settled as (
    update public.{{table}} d
       set status = p.status,
           attempts = p.attempts,
           next_attempt_at = p.next_attempt_at,
           last_error = p.last_error,
           lease_until = null,
           updated_at = now(),
           attempted_at = case when p.decision in ('released', 'key') then null else d.attempted_at end,
           {{done_at}} = case when p.decision = 'done' then p_now else d.{{done_at}} end,
           failed_at = case when p.decision = 'failed' then p_now else d.failed_at end{{done_sets}}
      from plan p
     -- By the row's address: a planner reading stale statistics otherwise walked the cap-usage index of all history
     -- (15 ms and 16,000 buffers for 100 rows). A row updated meanwhile is followed to its latest version and the
     -- conditions below are checked again.
     where d.ctid = p.row_ctid and d.id = p.id
       and d.run_id is not distinct from p_run_id
       and (d.status = {{active}} or (d.status = 'uncertain' and p.decision in ('done', 'failed')))
    returning d.id, d.account_id, d.status, p.outcome, p.decision, p.cooldown, p.retry_after_ms, p.key_status, p.code,
              p.error
  )
  select array_agg(s.id), array_agg(s.account_id), array_agg(s.status), array_agg(s.outcome), array_agg(s.decision),
         array_agg(s.cooldown), array_agg(s.retry_after_ms), array_agg(s.key_status), array_agg(s.code),
         array_agg(s.error)
    into v_id, v_account, v_status, v_outcome, v_decision, v_cooldown, v_retry_after, v_key_status, v_code, v_error
    from settled s;
  if v_id is null then return; end if;

  if 'key' = any (v_decision) or true = any (v_cooldown) then
    perform 1 from public.accounts a
     where a.id in (select u.acc from unnest(v_account, v_decision, v_cooldown) as u(acc, decision, cooldown)
                     where u.decision = 'key' or u.cooldown)
     order by a.id
       for no key update;
    -- The account, not the item, is at fault (disconnected, restricted): it stops; its items wait for it.
    update public.accounts a
       set status = k.key_status, status_reason = coalesce(k.code || ': ', '') || k.error
      from (select distinct on (u.acc) u.acc, u.key_status, u.code, u.error
              from unnest(v_account, v_decision, v_key_status, v_code, v_error)
                   as u(acc, decision, key_status, code, error)
             where u.decision = 'key' and u.key_status in ('disconnected', 'paused')
             order by u.acc) k
     where a.id = k.acc and a.status = 'active';
    -- A rate limit is about the account: nothing more for it until the bounded Retry-After has passed.
    update public.accounts a
       set {{resume}} = greatest(coalesce(a.{{resume}}, p_now), p_now + c.rest)
      from (select u.acc, max(public.queue_cooldown({{queue}}, u.retry_after_ms)) as rest
              from unnest(v_account, v_cooldown, v_retry_after) as u(acc, cooldown, retry_after_ms)
             where u.cooldown group by u.acc) c
     where a.id = c.acc;
  end if;

  return query select u.id, u.account_id, u.status, u.outcome, u.decision
                 from unnest(v_id, v_account, v_status, v_outcome, v_decision)
                      as u(id, account_id, status, outcome, decision);
end $fn$;
$tpl$, v_vars);

  execute public.queue_render($tpl$
create function public.{{backlog_fn}}(p_now timestamptz default now(), p_cap integer default 10000)
returns integer
language sql stable as $fn$
  -- How many items could be claimed now, ignoring caps (capped at p_cap: a summary figure, not a report).
  select count(*)::integer from (
    select 1 from public.{{table}} d
      join public.accounts a on a.id = d.account_id
     where d.status = {{waiting}} and d.due_at <= p_now
       and a.status = 'active' and (a.{{resume}} is null or a.{{resume}} <= p_now)
     limit p_cap
  ) s;
$fn$;
$tpl$, v_vars);

  -- When the operator raises a cap or resumes an account, it may be claimed for again at once; a new time zone means
  -- a new local day, so the counter is recounted.
  execute public.queue_render($tpl$
create or replace function public.{{reset_fn}}() returns trigger
language plpgsql as $fn$
begin
  if {{reset_when}} then
    new.{{resume}} := null;
  end if;
  {{reset_period}}
  return new;
end $fn$;
drop trigger if exists {{reset_fn}} on public.accounts;
create trigger {{reset_fn}} before update of {{reset_columns}} on public.accounts
  for each row execute function public.{{reset_fn}}();
$tpl$, v_vars);

  execute 'revoke execute on all functions in schema public from public, anon, authenticated';
  execute 'grant execute on all functions in schema public to service_role';
end $def$;

-- The rotation columns and their index are no longer read: rotation is by id from the cursor (queue_rotation).
drop index if exists public.accounts_dm_rotation;
alter table public.accounts drop column dm_checked_at, drop column post_checked_at, drop column invite_checked_at;
-- The engine's own writes to accounts (counters, resume times) set updated_at themselves.
select public.queue_stamp_updated_at('accounts');

select public.queue_define(
  p_queue => 'dm',
  p_item_table => 'dm_queue',
  p_plural => 'dms',
  p_singular => 'dm',
  p_waiting_status => 'pending',
  p_active_status => 'sending',
  p_done_status => 'sent',
  p_done_at_column => 'sent_at',
  p_payload_columns => array['recipient_id', 'body'],
  p_done_columns => '{"provider_message_id": "messageId", "provider_chat_id": "chatId"}',
  p_resume_column => 'dm_resume_at',
  p_cap_limit_column => 'dm_daily_limit',
  p_cap_period => 'day',
  p_pacing_prefix => 'dm');

select public.queue_define(
  p_queue => 'post',
  p_item_table => 'posts',
  p_plural => 'posts',
  p_singular => 'post',
  p_waiting_status => 'scheduled',
  p_active_status => 'publishing',
  p_done_status => 'published',
  p_done_at_column => 'published_at',
  p_payload_columns => array['content'],
  p_done_columns => '{"provider_post_id": "postId"}',
  p_resume_column => 'post_resume_at');

select public.queue_define(
  p_queue => 'invitation',
  p_item_table => 'invitations',
  p_plural => 'invitations',
  p_singular => 'invitation',
  p_waiting_status => 'pending',
  p_active_status => 'sending',
  p_done_status => 'sent',
  p_done_at_column => 'sent_at',
  p_payload_columns => array['recipient_id', 'message'],
  p_done_columns => '{"provider_invitation_id": "invitationId"}',
  p_resume_column => 'invite_resume_at',
  p_cap_limit_column => 'invite_weekly_limit',
  p_cap_period => 'week',
  p_counter_prefix => 'invite');

-- The webhook outbox of DMs and posts: one statement per status-changing statement instead of a trigger call (and an
-- endpoint lookup) per row. The payloads are the ones of 20261201000600; one message id per event, shared by its
-- endpoints.
create or replace function public.webhook_on_dm_statuses() returns trigger
language plpgsql as $$
begin
  if not exists (select 1 from public.webhook_endpoints e where e.enabled) then return null; end if;
  with ev as materialized (
    select 'msg_' || replace(gen_random_uuid()::text, '-', '') as msg_id,
           case n.status when 'sent' then 'dm.sent' else 'dm.failed' end as event_type,
           case n.status when 'sent' then coalesce(n.sent_at, now()) else coalesce(n.failed_at, now()) end as at,
           case n.status
             when 'sent' then jsonb_build_object(
               'dmId', n.id, 'accountId', n.account_id, 'recipientId', n.recipient_id, 'status', n.status,
               'providerMessageId', n.provider_message_id, 'providerChatId', n.provider_chat_id,
               'attempts', n.attempts, 'sentAt', public.webhook_iso(n.sent_at))
             else jsonb_build_object(
               'dmId', n.id, 'accountId', n.account_id, 'recipientId', n.recipient_id, 'status', n.status,
               'errorCode', public.webhook_error_code(n.last_error, n.body),
               'reason', public.webhook_failure_reason(n.last_error), 'attempts', n.attempts,
               'failedAt', public.webhook_iso(n.failed_at))
           end as data
      from new_rows n join old_rows o on o.id = n.id
     where n.status is distinct from o.status and n.status in ('sent', 'failed')
  )
  insert into public.webhook_deliveries (endpoint_id, event_type, msg_id, payload)
  select e.id, ev.event_type, ev.msg_id,
         jsonb_build_object('type', ev.event_type, 'timestamp', public.webhook_iso(ev.at), 'data', ev.data)
    from ev join public.webhook_endpoints e on e.enabled and ev.event_type = any (e.events);
  return null;
end $$;

create or replace function public.webhook_on_post_statuses() returns trigger
language plpgsql as $$
begin
  if not exists (select 1 from public.webhook_endpoints e where e.enabled) then return null; end if;
  with ev as materialized (
    select 'msg_' || replace(gen_random_uuid()::text, '-', '') as msg_id,
           case n.status when 'published' then 'post.published' else 'post.failed' end as event_type,
           case n.status when 'published' then coalesce(n.published_at, now()) else coalesce(n.failed_at, now()) end
             as at,
           case n.status
             when 'published' then jsonb_build_object(
               'postId', n.id, 'accountId', n.account_id, 'status', n.status, 'providerPostId', n.provider_post_id,
               'attempts', n.attempts, 'publishedAt', public.webhook_iso(n.published_at))
             else jsonb_build_object(
               'postId', n.id, 'accountId', n.account_id, 'status', n.status,
               'errorCode', public.webhook_error_code(n.last_error, n.content),
               'reason', public.webhook_failure_reason(n.last_error), 'attempts', n.attempts,
               'failedAt', public.webhook_iso(n.failed_at))
           end as data
      from new_rows n join old_rows o on o.id = n.id
     where n.status is distinct from o.status and n.status in ('published', 'failed')
  )
  insert into public.webhook_deliveries (endpoint_id, event_type, msg_id, payload)
  select e.id, ev.event_type, ev.msg_id,
         jsonb_build_object('type', ev.event_type, 'timestamp', public.webhook_iso(ev.at), 'data', ev.data)
    from ev join public.webhook_endpoints e on e.enabled and ev.event_type = any (e.events);
  return null;
end $$;

drop trigger dm_queue_webhooks on public.dm_queue;
drop trigger posts_webhooks on public.posts;
drop function public.webhook_on_dm_status();
drop function public.webhook_on_post_status();
create trigger dm_queue_webhooks after update on public.dm_queue
  referencing old table as old_rows new table as new_rows
  for each statement execute function public.webhook_on_dm_statuses();
create trigger posts_webhooks after update on public.posts
  referencing old table as old_rows new table as new_rows
  for each statement execute function public.webhook_on_post_statuses();

-- A DM the provider lookup found was sent: its last_error described an attempt, not its current state; the note
-- says how it was resolved.
create or replace function public.resolve_uncertain_dm(
  p_id uuid, p_provider_message_id text, p_provider_chat_id text, p_now timestamptz default now()
) returns boolean
language plpgsql as $$
begin
  update public.dm_queue d
     set status = 'sent', sent_at = coalesce(d.attempted_at, p_now),
         provider_message_id = p_provider_message_id, provider_chat_id = p_provider_chat_id,
         last_error = null
   where d.id = p_id and d.status = 'uncertain';
  return found;
end $$;

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
