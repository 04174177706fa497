-- queue_define: one template for every account-keyed queue (DMs, posts, invitations, a user's own). A queue's migration
-- creates its table and indexes, then calls this once; it records the queue's policy row and (re)writes four plain SQL
-- functions for it, so each has a static, cached plan and shows up in supabase/schema.sql like hand-written code:
--
--   reap_expired_<items>(p_now)                         active past its lease → 'uncertain' (never re-sent blindly)
--   claim_due_<items>(p_limit, p_lease_seconds, p_run_id, p_now)
--                                                       round-robin over active accounts (each locked while claimed,
--                                                       SKIP LOCKED), within the account's cap for the local day/week,
--                                                       its sending window and pacing; marks rows active with a lease
--   settle_<items>(p_run_id, p_outcomes, p_now, p_max_attempts, p_backoff_seconds)
--                                                       one statement per batch through queue_transition; pauses the
--                                                       account on a key outcome, rests it after a rate limit
--   <item>_backlog(p_now, p_cap)                        how many could be claimed now
--
-- The item table must have: id uuid, account_id uuid → accounts, status, attempts, next_attempt_at, last_error,
-- attempted_at, lease_until, failed_at, run_id, due_at (when it may be claimed), updated_at (the operator pages sort
-- by it) and the done timestamp column.
-- The accounts table carries the queue's engine columns: <resume> (earliest next claim) and <checked> (rotation), and
-- optionally the cap limit and the pacing columns named below.

create or replace function public.queue_render(p_template text, p_vars jsonb) returns text
language plpgsql immutable as $$
declare
  v text := p_template;
  k text;
begin
  for k in select jsonb_object_keys(p_vars) loop
    v := replace(v, '{{' || k || '}}', p_vars ->> k);
  end loop;
  if v ~ '\{\{[a-z_]+\}\}' then
    raise exception 'queue_render: unfilled placeholder %', substring(v from '\{\{[a-z_]+\}\}');
  end if;
  return v;
end $$;

create or replace function public.queue_define(
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
  p_checked_column text,
  -- The cap: an integer column of accounts (null: no cap) per 'day' or 'week' of the account's time zone.
  p_cap_limit_column text default null,
  p_cap_period text default 'day',
  -- Pacing (off unless the columns are named): <prefix>_min_interval_seconds, _jitter_seconds, _window_start_hour,
  -- _window_end_hour on accounts.
  p_pacing_prefix text default null,
  p_max_attempts integer default 5,
  p_backoff_seconds integer[] default array[60, 300, 1800, 21600],
  p_retry_after_max_seconds integer default 86400
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
begin
  if p_cap_period not in ('day', 'week') then raise exception 'queue_define: period must be day or week'; end if;
  insert into public.queue_policies as q (queue, max_attempts, backoff_seconds, retry_after_max_seconds, item_table,
                                          waiting_status, active_status, done_status, uncertain_status, account_keyed,
                                          done_at_column, target_column, preview_column, cap_limit_column, cap_period,
                                          resume_column)
  values (p_queue, p_max_attempts, p_backoff_seconds, p_retry_after_max_seconds, p_item_table,
          p_waiting_status, p_active_status, p_done_status, 'uncertain', true,
          p_done_at_column, p_payload_columns[1], p_payload_columns[cardinality(p_payload_columns)],
          p_cap_limit_column, case when p_cap_limit_column is not null then p_cap_period end, p_resume_column)
  on conflict (queue) do update
     set item_table = excluded.item_table, waiting_status = excluded.waiting_status,
         active_status = excluded.active_status, done_status = excluded.done_status,
         uncertain_status = excluded.uncertain_status, account_keyed = true,
         done_at_column = excluded.done_at_column, target_column = excluded.target_column,
         preview_column = excluded.preview_column, cap_limit_column = excluded.cap_limit_column,
         cap_period = excluded.cap_period, resume_column = excluded.resume_column;

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

  v_vars := jsonb_build_object(
    'queue', quote_literal(p_queue),
    'table', quote_ident(p_item_table),
    'claim_fn', quote_ident('claim_due_' || p_plural),
    'settle_fn', quote_ident('settle_' || p_plural),
    'reap_fn', quote_ident('reap_expired_' || p_plural),
    'backlog_fn', quote_ident(p_singular || '_backlog'),
    'reset_fn', quote_ident('accounts_reset_' || p_queue || '_resume'),
    'waiting', quote_literal(p_waiting_status),
    'active', quote_literal(p_active_status),
    'done', quote_literal(p_done_status),
    'active_word', p_active_status,
    'resend_word', 're-' || p_done_status,
    'done_at', quote_ident(p_done_at_column),
    'resume', quote_ident(p_resume_column),
    'checked', quote_ident(p_checked_column),
    'payload_ret', v_payload_ret,
    'payload_d', v_payload_d,
    'payload_c', v_payload_c,
    'done_sets', v_done_sets,
    'period', quote_literal(p_cap_period),
    'cap_limit', coalesce('a.' || quote_ident(p_cap_limit_column), 'null::integer'),
    'reset_columns', coalesce(quote_ident(p_cap_limit_column) || ', ', '') || 'status',
    'reset_when', coalesce('new.' || quote_ident(p_cap_limit_column) || ' is distinct from old.'
                           || quote_ident(p_cap_limit_column) || ' or ', '') || 'new.status is distinct from old.status',
    'min_interval', coalesce('a.' || quote_ident(p_pacing_prefix || '_min_interval_seconds'), '0'),
    'jitter', coalesce('a.' || quote_ident(p_pacing_prefix || '_jitter_seconds'), '0'),
    'window_start', coalesce('a.' || quote_ident(p_pacing_prefix || '_window_start_hour'), 'null::smallint'),
    'window_end', coalesce('a.' || quote_ident(p_pacing_prefix || '_window_end_hour'), 'null::smallint'));

  -- A changed template may change a function's arguments or result: drop every older version first.
  for v_fn in
    select p.oid::regprocedure::text from pg_proc p
     where p.pronamespace = 'public'::regnamespace
       and p.proname in ('claim_due_' || p_plural, 'settle_' || p_plural, 'reap_expired_' || p_plural,
                         p_singular || '_backlog')
  loop
    execute 'drop function ' || v_fn;
  end loop;

  execute public.queue_render($tpl$
create function public.{{reap_fn}}(p_now timestamptz default now()) returns integer
language plpgsql as $fn$
declare n integer;
begin
  -- The run that claimed these died (or hung) after committing the claim: the call may or may not have reached the
  -- provider, so the item is never repeated automatically. 'uncertain' is for reconciliation or the operator.
  update public.{{table}} d
     set status = 'uncertain', lease_until = null,
         last_error = 'lease expired at ' || to_char(d.lease_until at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') ||
                      ' while {{active_word}}: the outcome is unknown, so it is not {{resend_word}} automatically'
   where d.status = {{active}} and d.lease_until <= p_now;
  get diagnostics n = row_count;
  return n;
end $fn$;
$tpl$, v_vars);

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
  v_accounts uuid[];
  v_share integer;
begin
  if p_limit is null or p_limit < 1 then return; end if;

  -- 1. Lock the accounts we will claim for, least recently checked first (fair across runs). SKIP LOCKED: a
  --    concurrent run takes other accounts instead of waiting, and two runs never claim for one account at once.
  select array_agg(s.id) into v_accounts from (
    select a.id
      from public.accounts a
     where a.status = 'active'
       and (a.{{resume}} is null or a.{{resume}} <= p_now)
       and exists (select 1 from public.{{table}} q
                    where q.account_id = a.id and q.status = {{waiting}} and q.due_at <= p_now)
     order by a.{{checked}} nulls first, a.id
     limit p_limit
     for update of a skip locked
  ) s;
  if v_accounts is null then return; end if;
  v_share := ceil(p_limit::numeric / cardinality(v_accounts))::integer;

  -- 2. A new statement takes a new snapshot (this function is volatile, READ COMMITTED): every claim committed
  --    before we locked the accounts is visible, so the cap arithmetic below is exact.
  return query
  with acc as (
    select a.id, a.timezone, a.unipile_account_id, {{cap_limit}} as cap_limit,
           {{min_interval}} as min_interval, {{jitter}} as jitter,
           {{window_start}} as window_start, {{window_end}} as window_end,
           (p_now at time zone a.timezone) as local_now, w.starts as period_start, w.ends as period_end
      from public.accounts a
      cross join lateral public.queue_window(a.timezone, {{period}}, p_now) w
     where a.id = any (v_accounts)
  ),
  quota as (
    select acc.*,
           -- What counts against the cap: sent, in flight, or unknown, by when the call started (or, for imported
           -- history inserted as done, when it was done).
           case when acc.cap_limit is null then 2147483647 else greatest(0, acc.cap_limit - (
             select count(*) from public.{{table}} u
              where u.account_id = acc.id
                and u.status in ({{done}}, {{active}}, 'uncertain')
                and coalesce(u.attempted_at, u.{{done_at}}) >= acc.period_start
                and coalesce(u.attempted_at, u.{{done_at}}) < acc.period_end))::integer end as remaining,
           case
             when acc.window_start is null then true
             when acc.window_start < acc.window_end then
               extract(hour from acc.local_now) >= acc.window_start and extract(hour from acc.local_now) < acc.window_end
             else -- a window over midnight, e.g. 22..6
               extract(hour from acc.local_now) >= acc.window_start or extract(hour from acc.local_now) < acc.window_end
           end as in_window
      from acc
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
                    when q.min_interval > 0 then least(q.remaining, 1)
                    else least(q.remaining, v_share) end
         for update of d skip locked
      ) p
  ),
  -- The per-account share is rounded up, so the candidates can exceed p_limit: keep the first turns.
  picked as (
    select c.id, c.account_id, c.unipile_account_id, c.turn
      from candidates c
     order by c.turn, c.due_at, c.id
     limit p_limit
  ),
  claimed as (
    update public.{{table}} d
       set status = {{active}}, attempts = d.attempts + 1, attempted_at = p_now,
           lease_until = p_now + make_interval(secs => p_lease_seconds), run_id = p_run_id
      from picked p
     where d.id = p.id
    returning d.id, d.account_id, p.unipile_account_id{{payload_d}}, d.attempts, d.attempted_at, p.turn
  ),
  per_account as (
    select c.account_id, count(*)::integer as n from claimed c group by c.account_id
  ),
  touched as (
    update public.accounts a
       set {{checked}} = p_now,
           {{resume}} = case
             -- Cap reached: look again when the period ends, or sooner in case a call fails or the limit is raised.
             when q.remaining - coalesce(pa.n, 0) <= 0 then least(q.period_end, p_now + interval '5 minutes')
             -- Outside the sending window: resume at the next window start.
             when not q.in_window then
               (date_trunc('day', q.local_now) + make_interval(hours => q.window_start::integer)
                 + case when date_trunc('day', q.local_now) + make_interval(hours => q.window_start::integer) <= q.local_now
                        then interval '1 day' else interval '0' end) at time zone q.timezone
             -- Pacing: the next call no sooner than the interval plus random jitter.
             when q.min_interval > 0 and coalesce(pa.n, 0) > 0 then
               p_now + make_interval(secs => q.min_interval + floor(random() * (q.jitter + 1)))
             else null
           end
      from quota q
      left join per_account pa on pa.account_id = q.id
     where a.id = q.id
  )
  select c.id, c.account_id, c.unipile_account_id{{payload_c}}, c.attempts, c.attempted_at, c.turn
    from claimed c
   order by c.turn, c.attempted_at, c.id;
end $fn$;
$tpl$, v_vars);

  execute public.queue_render($tpl$
create function public.{{settle_fn}}(
  p_run_id uuid,
  p_outcomes jsonb,
  p_now timestamptz default now(),
  p_max_attempts integer default null,
  p_backoff_seconds integer[] default null
) returns table (id uuid, account_id uuid, status text, outcome text, decision text)
language sql volatile as $fn$
  -- Only rows this run holds are settled (active with its run id, or — for a late done/failed answer — the
  -- 'uncertain' row the reaper made of it), so a late or duplicate settle cannot overwrite another run's work.
  with o as (
    select * from public.queue_outcomes(p_outcomes)
  ),
  plan as (
    select d.id, o.outcome, o.cooldown, o.retry_after_ms, o.key_status, o.code, o.error, o.result, t.decision,
           t.status, t.attempts, t.next_attempt_at, t.last_error
      from o
      join public.{{table}} d on d.id = o.id
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
           attempted_at = case when p.decision in ('released', 'key') then null else d.attempted_at end,
           {{done_at}} = case when p.decision = 'done' then p_now else d.{{done_at}} end,
           failed_at = case when p.decision = 'failed' then p_now else d.failed_at end{{done_sets}}
      from plan p
     where d.id = p.id
       and d.run_id is not distinct from p_run_id
       and (d.status = {{active}} or (d.status = 'uncertain' and p.decision in ('done', 'failed')))
    returning d.id, d.account_id, d.status, p.outcome, p.decision, p.cooldown, p.retry_after_ms, p.key_status, p.code,
              p.error
  ),
  key_pauses as (
    -- The account, not the item, is at fault (disconnected, restricted): it stops; its items wait for it.
    update public.accounts a
       set status = s.key_status, status_reason = coalesce(s.code || ': ', '') || s.error
      from (select distinct on (settled.account_id) settled.account_id, settled.key_status, settled.code, settled.error
              from settled where settled.decision = 'key' and settled.key_status in ('disconnected', 'paused')) s
     where a.id = s.account_id and a.status = 'active'
  ),
  cooldowns as (
    -- A rate limit is about the account: nothing more for it until the bounded Retry-After has passed.
    update public.accounts a
       set {{resume}} = greatest(coalesce(a.{{resume}}, p_now), p_now + c.rest)
      from (select settled.account_id, max(public.queue_cooldown({{queue}}, settled.retry_after_ms)) as rest
              from settled where settled.cooldown group by settled.account_id) c
     where a.id = c.account_id
  )
  select s.id, s.account_id, s.status, s.outcome, s.decision from settled s;
$fn$;
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

  -- When the operator raises a cap or resumes an account, it may be claimed for again at once.
  execute public.queue_render($tpl$
create or replace function public.{{reset_fn}}() returns trigger
language plpgsql as $fn$
begin
  if {{reset_when}} then
    new.{{resume}} := null;
  end if;
  return new;
end $fn$;
drop trigger if exists {{reset_fn}} on public.accounts;
create trigger {{reset_fn}} before update of {{reset_columns}} on public.accounts
  for each row execute function public.{{reset_fn}}();
$tpl$, v_vars);

  execute 'revoke execute on all functions in schema public from public, anon, authenticated';
  execute 'grant execute on all functions in schema public to service_role';
end $def$;

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
