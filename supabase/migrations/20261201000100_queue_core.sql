-- The engine's core: what every queue shares, defined once.
--   queue_policies     one row per queue: its retry policy and its status vocabulary.
--   queue_outcomes     parses the batch of outcomes the drain loop sends to a settle function (bounded, typed).
--   queue_transition   outcome × attempts × retry-after × policy → next status, attempts, next_attempt_at, last_error.
--   queue_cooldown     how long a key (an account) rests after a rate limit.
--   queue_window       the calendar day or week of a time zone that contains an instant (caps count inside it).
--   queue_define       writes the reap/claim/settle/backlog functions of an account-keyed queue from one template.
-- Every settle function of every queue calls queue_transition; no queue carries its own copy of the state machine.

create table public.queue_policies (
  queue text primary key constraint queue_policies_name check (queue ~ '^[a-z][a-z0-9_]{0,30}$'),
  -- Attempts before 'failed' (a retry at this count fails instead).
  max_attempts integer not null default 5 constraint queue_policies_max_attempts check (max_attempts between 1 and 100),
  -- Wait before attempt n+1 after a retryable failure of attempt n: backoff_seconds[n], the last step repeated.
  backoff_seconds integer[] not null default array[60, 300, 1800, 21600]
    constraint queue_policies_backoff check (cardinality(backoff_seconds) between 1 and 20
                                             and 0 < all (backoff_seconds) and 31536000 >= all (backoff_seconds)),
  -- A provider's Retry-After is honoured up to this many seconds: it is untrusted input, and an absurd value must
  -- neither overflow the arithmetic nor freeze an item or an account for years.
  retry_after_max_seconds integer not null default 86400
    constraint queue_policies_retry_after_max check (retry_after_max_seconds between 1 and 31536000),
  -- The queue's own words for the engine's states.
  item_table text not null,
  waiting_status text not null,
  active_status text not null,
  done_status text not null,
  -- null: the queue has no 'uncertain' (its calls are idempotent): an uncertain outcome is retried.
  uncertain_status text,
  -- For queues written by queue_define (account-keyed): what the operator pages and the generic admin functions read.
  account_keyed boolean not null default false,
  done_at_column text,
  -- Item columns that describe an item to an operator: what it is sent to, and a preview of its text.
  target_column text,
  preview_column text,
  cap_limit_column text,
  cap_period text constraint queue_policies_cap_period check (cap_period in ('day', 'week')),
  resume_column text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create trigger queue_policies_updated_at before update on public.queue_policies
  for each row execute function public.set_updated_at();

alter table public.queue_policies enable row level security;
revoke all on public.queue_policies from anon, authenticated;
grant all on public.queue_policies to service_role;

-- The outcomes of one batch, as the drain loop sends them (lib/cron/outcomes.ts). One element per claimed item:
--   { id, outcome: done|retry|failed|uncertain|release|key, error?, code?, retryAfterMs?, cooldown?, keyStatus?,
--     result? }
-- The queue's own done word ('sent', 'published', 'delivered') is accepted for 'done'. Values are bounded here, once:
-- error ≤ 1000 and code ≤ 200 characters, retryAfterMs a finite number clamped to [0, 10^15] (anything else is
-- ignored), so no single outcome can make the statement that settles the whole batch fail.
create or replace function public.queue_outcomes(p_outcomes jsonb)
returns table (id uuid, outcome text, error text, code text, retry_after_ms numeric, cooldown boolean,
               key_status text, result jsonb)
language sql immutable as $$
  select case when x.id ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then x.id::uuid end,
         x.outcome,
         left(coalesce(nullif(x.error, ''), x.outcome, 'unknown outcome'), 1000),
         nullif(left(x.code, 200), ''),
         case when jsonb_typeof(x."retryAfterMs") = 'number'
              then least(greatest((x."retryAfterMs")::text::numeric, 0), 1e15) end,
         coalesce(x.cooldown = 'true'::jsonb, false),
         nullif(left(x."keyStatus", 50), ''),
         case when jsonb_typeof(x.result) = 'object' then x.result else '{}'::jsonb end
    from jsonb_to_recordset(p_outcomes) as x(
      id text, outcome text, error text, code text, "retryAfterMs" jsonb, cooldown jsonb, "keyStatus" text,
      result jsonb);
$$;

-- The transition, for one item. p_attempts is the item's attempt count as the claim left it (the claim counts the
-- attempt it starts). p_max_attempts / p_backoff_seconds override the queue's row for one call (null: the row).
-- decision:
--   done       → the queue's done status; the error is cleared.
--   failed     → 'failed' at once (a request that cannot succeed).
--   uncertain  → the queue's uncertain status (never retried automatically); a queue without one retries instead.
--   retry      → back to waiting after backoff_seconds[attempts] or the bounded Retry-After, whichever is longer;
--                'failed' ("gave up after n attempts: …") once attempts reach max_attempts.
--   released   → back to waiting, the attempt refunded, next_attempt_at and last_error as they were (never started).
--   key        → back to waiting, the attempt refunded, the reason recorded: the item's key (its account) is at fault
--                and the settle function pauses the key.
-- An unknown outcome is treated as a retry: it is counted and bounded, never lost.
create or replace function public.queue_transition(
  p_queue text,
  p_outcome text,
  p_attempts integer,
  p_retry_after_ms numeric,
  p_error text,
  p_code text,
  p_prev_next_attempt_at timestamptz,
  p_prev_error text,
  p_now timestamptz,
  p_max_attempts integer default null,
  p_backoff_seconds integer[] default null
) returns table (decision text, status text, attempts integer, next_attempt_at timestamptz, last_error text)
language sql stable as $$
  with p as (
    select q.*,
           coalesce(p_max_attempts, q.max_attempts) as max_n,
           coalesce(nullif(p_backoff_seconds, '{}'), q.backoff_seconds) as steps,
           coalesce(p_code || ': ', '') || coalesce(p_error, p_outcome, 'unknown outcome') as message,
           case when p_outcome in ('done', q.done_status) then 'done'
                when p_outcome = 'uncertain' and q.uncertain_status is not null then 'uncertain'
                when p_outcome in ('failed', 'release', 'key') then p_outcome
                else 'retry' end as kind
      from public.queue_policies q where q.queue = p_queue
  ),
  d as (
    select p.*, case when p.kind = 'retry' and p_attempts >= p.max_n then 'failed'
                     when p.kind = 'release' then 'released'
                     else p.kind end as decision
      from p
  )
  select d.decision,
         case d.decision when 'done' then d.done_status
                         when 'failed' then 'failed'
                         when 'uncertain' then d.uncertain_status
                         else d.waiting_status end,
         case when d.decision in ('released', 'key') then greatest(p_attempts - 1, 0) else p_attempts end,
         case d.decision
           when 'retry' then p_now + make_interval(secs => greatest(
             d.steps[least(greatest(p_attempts, 1), cardinality(d.steps))],
             least(coalesce(p_retry_after_ms, 0) / 1000.0, d.retry_after_max_seconds)))
           when 'released' then p_prev_next_attempt_at
           when 'key' then p_prev_next_attempt_at
           else null end,
         case when d.decision = 'done' then null
              when d.decision = 'released' then p_prev_error
              when d.decision = 'failed' and d.kind = 'retry' then
                left('gave up after ' || p_attempts || ' attempts: ' || d.message, 1100)
              else left(d.message, 1100) end
    from d;
$$;

-- How long a key (an account) rests after a rate limit: the bounded Retry-After, at least the first backoff step.
create or replace function public.queue_cooldown(p_queue text, p_retry_after_ms numeric)
returns interval
language sql stable as $$
  select make_interval(secs => greatest(q.backoff_seconds[1],
                                        least(coalesce(p_retry_after_ms, 0) / 1000.0, q.retry_after_max_seconds)))
    from public.queue_policies q where q.queue = p_queue;
$$;

-- The calendar period ('day', or 'week' from Monday 00:00) of time zone p_tz that contains p_now: the first instant of
-- the local period and the first instant of the next one. `local at time zone tz` alone is not enough: on a day whose
-- local midnight happens twice (clocks fall back across 00:00) it picks one of the two instants, and the later one
-- would start the day after p_now. So both ends are chosen among instants near PostgreSQL's answer (±3 h, 15-minute
-- steps: every offset change in the tz database is a multiple of 15 minutes): the start is the earliest one at or
-- before p_now whose local time is already in the period, the end the earliest one after p_now whose local time has
-- reached the next period. Every instant lies inside the window computed for it.
create or replace function public.queue_window(p_tz text, p_period text, p_now timestamptz)
returns table (starts timestamptz, ends timestamptz)
language sql stable as $$
  with b as (
    select date_trunc(case when p_period = 'week' then 'week' else 'day' end, p_now at time zone p_tz) as local_start,
           case when p_period = 'week' then interval '7 days' else interval '1 day' end as len
  )
  select coalesce(
           (select min(x.t) from generate_series(-12, 12) k
              cross join lateral (select (b.local_start at time zone p_tz) + k * interval '15 minutes' as t) x
             where x.t <= p_now and (x.t at time zone p_tz) >= b.local_start),
           b.local_start at time zone p_tz),
         coalesce(
           (select min(x.t) from generate_series(-12, 12) k
              cross join lateral (select ((b.local_start + b.len) at time zone p_tz) + k * interval '15 minutes' as t) x
             where x.t > p_now and (x.t at time zone p_tz) >= b.local_start + b.len),
           (b.local_start + b.len) at time zone p_tz)
    from b;
$$;

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
