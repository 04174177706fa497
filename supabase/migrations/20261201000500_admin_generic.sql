-- /admin for every account-keyed queue (issue "One queue engine"): the page and the operator's answers read the
-- queue_policies rows queue_define writes, so a new queue shows up on /admin with no admin code of its own. Replaces
-- the per-kind ('dm' | 'post') functions of 20261125001500_admin.sql; their names and results stay.
--
-- Identifiers come from queue_policies and are quoted with %I, status words with %L: a row cannot inject SQL, and
-- literal statuses let the planner match each statement to the queue's partial indexes.

-- Whether an item table has a column: a few queue-specific niceties below apply only where their column exists.
create or replace function public.admin_has_column(p_table text, p_column text) returns boolean
language sql stable as $$
  select exists (select 1 from pg_attribute a
                  where a.attrelid = to_regclass('public.' || quote_ident(p_table)) and a.attname = p_column
                    and a.attnum > 0 and not a.attisdropped);
$$;

-- One body for the operator's three answers to a failed or uncertain item (retry, cancel, mark-sent), on any
-- account-keyed queue. It touches the row only from the statuses where the answer makes sense, so a double click or a
-- stale page is harmless, and never a row a run holds right now (the active status): its outcome is still coming.
-- Returns {ok, status} or {ok: false, reason}.
create or replace function public.admin_resolve_item(p_action text, p_kind text, p_id uuid, p_now timestamptz)
returns jsonb
language plpgsql volatile as $$
declare
  q public.queue_policies;
  v_sets text;
  v_allowed text;
  v_verb text;
  v_refusal text;
  v_status text;
begin
  select p.* into q from public.queue_policies p where p.queue = p_kind and p.account_keyed;
  if not found then
    return jsonb_build_object('ok', false, 'reason', 'unknown kind ' || coalesce(p_kind, 'null'));
  end if;

  if p_action = 'retry' then
    -- Back to the queue as if new: attempts reset, no backoff. For an uncertain item this may send it twice; the page
    -- asks first. ('uncertain' is the word queue_define gives every account-keyed queue.)
    v_sets := format('status = %L, attempts = 0, next_attempt_at = null, attempted_at = null, lease_until = null, '
                     'run_id = null, failed_at = null', q.waiting_status);
    -- DMs: the reconciler looks at the row afresh if it becomes uncertain again.
    if public.admin_has_column(q.item_table, 'reconcile_checked_at') then
      v_sets := v_sets || ', reconcile_checked_at = null';
    end if;
    -- Posts: a scheduled post needs a time (posts_scheduled_needs_time); one that never had one goes now.
    if public.admin_has_column(q.item_table, 'scheduled_for') then
      v_sets := v_sets || ', scheduled_for = coalesce(d.scheduled_for, $2)';
    end if;
    v_allowed := 'd.status in (''failed'', ''uncertain'')';
    v_verb := 'retried';
    v_refusal := 'only a failed or uncertain item can be retried';
  elsif p_action = 'cancel' then
    -- Never sent. Allowed from every status that is not in flight, done, or cancelled already (a post's 'draft' too).
    v_sets := 'status = ''cancelled'', lease_until = null, next_attempt_at = null';
    v_allowed := format('d.status not in (%L, %L, ''cancelled'')', q.active_status, q.done_status);
    v_verb := 'cancelled';
    v_refusal := 'only a queued, failed or uncertain item can be cancelled';
  elsif p_action = 'mark-sent' then
    -- The operator checked LinkedIn and the item is there. It counts against the cap when its call started.
    v_sets := format('status = %L, %I = coalesce(d.attempted_at, $2), failed_at = null, lease_until = null, '
                     'next_attempt_at = null', q.done_status, q.done_at_column);
    v_allowed := 'd.status in (''failed'', ''uncertain'')';
    v_verb := 'marked ' || q.done_status;
    v_refusal := 'only a failed or uncertain item can be marked ' || q.done_status;
  else
    return jsonb_build_object('ok', false, 'reason', 'unknown action ' || coalesce(p_action, 'null'));
  end if;

  execute format('update public.%I d set %s, last_error = $3 || coalesce(''; before: '' || d.last_error, '''') '
                 'where d.id = $1 and %s returning d.status', q.item_table, v_sets, v_allowed)
     into v_status
    using p_id, p_now,
          v_verb || ' by the operator at ' || to_char(p_now at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"');
  return public.admin_item_result(p_kind, p_id, v_status, v_refusal);
end $$;

create or replace function public.admin_retry_item(p_kind text, p_id uuid, p_now timestamptz default now())
returns jsonb
language sql volatile as $$ select public.admin_resolve_item('retry', p_kind, p_id, p_now); $$;

create or replace function public.admin_cancel_item(p_kind text, p_id uuid, p_now timestamptz default now())
returns jsonb
language sql volatile as $$ select public.admin_resolve_item('cancel', p_kind, p_id, p_now); $$;

create or replace function public.admin_mark_sent(p_kind text, p_id uuid, p_now timestamptz default now())
returns jsonb
language sql volatile as $$ select public.admin_resolve_item('mark-sent', p_kind, p_id, p_now); $$;

-- The answer of the functions above: the new status, or why nothing changed (gone, or in another status).
create or replace function public.admin_item_result(p_kind text, p_id uuid, p_new_status text, p_refusal text)
returns jsonb
language plpgsql stable as $$
declare
  v_table text;
  v_status text;
begin
  if p_new_status is not null then
    return jsonb_build_object('ok', true, 'status', p_new_status);
  end if;
  select q.item_table into v_table from public.queue_policies q where q.queue = p_kind and q.account_keyed;
  if v_table is not null then
    execute format('select d.status from public.%I d where d.id = $1', v_table) into v_status using p_id;
  end if;
  return jsonb_build_object('ok', false, 'reason', p_refusal || ' (it is ' || coalesce(v_status, 'gone') || ')');
end $$;

-- One round trip for the whole page: jobs (pause flag, lease, last run, last success), the depth of every
-- account-keyed queue, each account's usage of every capped queue in its own day or week, the items that need an
-- operator, and 14 days of sent/failed/published. The page refreshes every few seconds: every read walks a partial
-- index or a bounded range, never the history. Shape (lib/admin/queries.ts):
--   queues   [{queue, table, waitingStatus, activeStatus, doneStatus, capPeriod, due, waiting, active, uncertain,
--              failed, done24h}]                                   in queue_policies order (created_at, queue)
--   accounts [{id, name, timezone, status, statusReason, localDay,
--              usage: [{queue, limit, period, localPeriodStart, used, resumeAt}]}]   one entry per capped queue
--   problems [{kind (the queue), id, status, attempts, lastError, updatedAt, attemptedAt, dueAt, account, target,
--              preview}]                                           uncertain first, then failed; newest first
-- Besides the columns queue_define requires, it reads each item table's updated_at (the order of the problem list).
create or replace function public.admin_overview(
  p_jobs text[],
  p_now timestamptz default now(),
  p_problem_limit integer default 50,
  p_account_limit integer default 100
) returns jsonb
language plpgsql stable as $$
declare
  q public.queue_policies;
  v_accounts uuid[];
  v_queue jsonb;
  v_queues jsonb := '[]'::jsonb;
  v_usage jsonb := '[]'::jsonb;
  v_entries jsonb;
  v_problem_parts text[] := '{}'::text[];
  v_problems jsonb := '[]'::jsonb;
begin
  select coalesce(array_agg(x.id order by x.name, x.id), '{}') into v_accounts
    from (select a.id, a.name from public.accounts a order by a.name, a.id limit p_account_limit) x;

  for q in select p.* from public.queue_policies p where p.account_keyed order by p.created_at, p.queue loop
    -- Open statuses are counted exactly (each has a partial index); finished ones only over the last 24 hours,
    -- because their all-time count grows without bound and says nothing about the queue.
    execute format(
      'select jsonb_build_object(''queue'', %1$L, ''table'', %2$L, ''waitingStatus'', %3$L, ''activeStatus'', %4$L,
              ''doneStatus'', %5$L, ''capPeriod'', %6$L::text,
              ''due'', (select count(*) from public.%2$I d where d.status = %3$L and d.due_at <= $1),
              ''waiting'', (select count(*) from public.%2$I d where d.status = %3$L),
              ''active'', (select count(*) from public.%2$I d where d.status = %4$L),
              ''uncertain'', (select count(*) from public.%2$I d where d.status = ''uncertain''),
              ''failed'', (select count(*) from public.%2$I d where d.status = ''failed''),
              ''done24h'', (select count(*) from public.%2$I d
                             where d.status = %5$L and d.%7$I > $1 - interval ''24 hours'' and d.%7$I <= $1))',
      q.queue, q.item_table, q.waiting_status, q.active_status, q.done_status, q.cap_period, q.done_at_column)
      into v_queue using p_now;
    v_queues := v_queues || jsonb_build_array(v_queue);

    -- Counted exactly as the queue's claim counts against its cap: done, in flight or uncertain, by when the call
    -- started (or, for imported history inserted as done, when it was done), within the account's own local period.
    if q.cap_limit_column is not null then
      execute format(
        'select coalesce(jsonb_agg(jsonb_build_object(
                  ''accountId'', a.id, ''queue'', %1$L, ''limit'', a.%3$I, ''period'', %4$L,
                  ''localPeriodStart'', (w.starts at time zone a.timezone)::date,
                  ''used'', (select count(*) from public.%2$I u
                              where u.account_id = a.id and u.status in (%5$L, %6$L, ''uncertain'')
                                and coalesce(u.attempted_at, u.%7$I) >= w.starts
                                and coalesce(u.attempted_at, u.%7$I) < w.ends),
                  ''resumeAt'', %8$s)), ''[]'')
           from public.accounts a
           cross join lateral public.queue_window(a.timezone, %4$L, $1) w
          where a.id = any ($2)',
        q.queue, q.item_table, q.cap_limit_column, q.cap_period, q.done_status, q.active_status, q.done_at_column,
        case when q.resume_column is null then 'null::timestamptz' else format('a.%I', q.resume_column) end)
        into v_entries using p_now, v_accounts;
      v_usage := v_usage || v_entries;
    end if;

    -- The target is what the item is sent to; a queue whose only described column is its text (posts) has none, and
    -- the page shows when it was due instead.
    v_problem_parts := v_problem_parts || format(
      '(select %1$L as kind, d.id, d.status, d.attempts, d.last_error as "lastError", d.updated_at as "updatedAt",
               d.attempted_at as "attemptedAt", d.due_at as "dueAt", a.name as account, %3$s as target,
               %4$s as preview
          from public.%2$I d join public.accounts a on a.id = d.account_id
         where d.status in (''failed'', ''uncertain'')
         order by d.status = ''uncertain'' desc, d.updated_at desc
         limit $1)',
      q.queue, q.item_table,
      case when q.target_column is null or q.target_column = q.preview_column then 'null::text'
           else format('d.%I::text', q.target_column) end,
      case when q.preview_column is null then '''''::text' else format('left(d.%I::text, 80)', q.preview_column) end);
  end loop;

  if cardinality(v_problem_parts) > 0 then
    execute format(
      'select coalesce(jsonb_agg(to_jsonb(p) order by p.status = ''uncertain'' desc, p."updatedAt" desc), ''[]'')
         from (select * from (%s) u order by u.status = ''uncertain'' desc, u."updatedAt" desc limit $1) p',
      array_to_string(v_problem_parts, ' union all '))
      into v_problems using p_problem_limit;
  end if;

  return jsonb_build_object(
    'now', p_now,
    'installedAt', (select i.installed_at from public.cron_installation i),
    'jobs', (
      select coalesce(jsonb_agg(jsonb_build_object(
               'job', j.job,
               'enabled', coalesce(s.enabled, true),
               'lockUntil', s.lock_until,
               'lastRun', case when lr.id is null then null else jsonb_build_object(
                 'id', lr.id, 'trigger', lr.trigger, 'status', lr.status, 'startedAt', lr.started_at,
                 'finishedAt', lr.finished_at, 'durationMs', lr.duration_ms, 'error', lr.error,
                 'reason', lr.summary ->> 'reason') end,
               'lastSuccessAt', ls.started_at
             ) order by j.ord), '[]'::jsonb)
        from unnest(p_jobs) with ordinality as j(job, ord)
        left join public.cron_state s on s.job = j.job
        left join lateral (select r.* from public.job_runs r
                            where r.job = j.job order by r.started_at desc limit 1) lr on true
        left join lateral (select r.started_at from public.job_runs r
                            where r.job = j.job and r.status in ('ok', 'partial') order by r.started_at desc limit 1) ls on true
    ),
    'queues', v_queues,
    'accountCount', (select count(*) from public.accounts),
    'accounts', (
      select coalesce(jsonb_agg(jsonb_build_object(
               'id', a.id, 'name', a.name, 'timezone', a.timezone, 'status', a.status,
               'statusReason', a.status_reason, 'localDay', (p_now at time zone a.timezone)::date,
               'usage', (select coalesce(jsonb_agg(e.value - 'accountId' order by e.ord), '[]'::jsonb)
                           from jsonb_array_elements(v_usage) with ordinality as e(value, ord)
                          where e.value ->> 'accountId' = a.id::text)
             ) order by a.name, a.id), '[]'::jsonb)
        from public.accounts a where a.id = any (v_accounts)
    ),
    'problems', v_problems,
    -- 14 UTC days ending today. A day the nightly roll-up has finished comes from daily_platform_stats; any other day
    -- (today, or before analytics first ran) is counted from the source rows, as analytics_run_chunk counts them.
    'daily', (
      select jsonb_agg(jsonb_build_object(
               'day', d.day,
               'source', case when ps.day is null then 'live' else 'rollup' end,
               'dmsSent', coalesce(ps.dms_sent, (select count(*) from public.dm_queue x
                 where x.status = 'sent' and x.sent_at >= d.day_start and x.sent_at < d.day_start + interval '1 day')),
               'dmsFailed', coalesce(ps.dms_failed, (select count(*) from public.dm_queue x
                 where x.status = 'failed' and x.failed_at >= d.day_start and x.failed_at < d.day_start + interval '1 day')),
               'postsPublished', coalesce(ps.posts_published, (select count(*) from public.posts x
                 where x.status = 'published' and x.published_at >= d.day_start
                   and x.published_at < d.day_start + interval '1 day'))
             ) order by d.day)
        from (select g::date as day, g::date::timestamp at time zone 'UTC' as day_start
                from generate_series(((p_now at time zone 'UTC')::date - 13)::timestamp,
                                     (p_now at time zone 'UTC')::date::timestamp, interval '1 day') g) d
        left join public.daily_platform_stats ps on ps.day = d.day
    )
  );
end $$;

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
