-- One LinkedIn account, one cap. The caps (dm_daily_limit per local day, invite_weekly_limit per local week) are
-- counted per accounts row by the claim functions queue_define writes, while LinkedIn counts per LinkedIn account:
-- two rows holding the same unipile_account_id each got a full cap (20 DMs sent against a limit of 10).
--
-- Why uniqueness and not counting per provider account: two rows of one LinkedIn account could carry different caps,
-- time zones, sending windows and pacing, and there is no right answer to "whose limit, whose day?"; the claim would
-- also have to lock every sibling row to keep the count exact under concurrency. One connected row per provider
-- account keeps the claim's arithmetic (one row locked, one cap, one zone) exact and refuses the ambiguity at insert,
-- with an error that names the rule.
--
-- Disconnected rows are left out: reconnecting a LinkedIn account as a new row, keeping the old row's history, is the
-- usual flow. Reconnecting the old row while another row holds the id is refused by the same index (23505). Paused
-- rows hold the id: a paused account is resumed, and would then send on the same LinkedIn account. An empty or null
-- unipile_account_id means "not linked yet" (the jobs pause such an account) and never conflicts.

do $$
declare
  v_dupes text;
begin
  -- A deployment that already has duplicates cannot get the index; say which rows and what to do instead of the bare
  -- "could not create unique index". Nothing is changed for the operator: which row keeps the account is their call.
  select string_agg(format('%s (rows %s)', d.unipile_account_id, d.ids), '; ') into v_dupes
    from (select a.unipile_account_id, string_agg(a.id::text, ', ' order by a.created_at, a.id) as ids
            from public.accounts a
           where a.status <> 'disconnected' and a.unipile_account_id <> ''
           group by a.unipile_account_id
          having count(*) > 1) d;
  if v_dupes is not null then
    raise exception 'accounts share a unipile_account_id while connected: %', v_dupes
      using hint = 'Keep one connected row per LinkedIn account: set status = ''disconnected'' on the others (move '
                   'their pending dm_queue/invitations/posts rows to the kept account first), then migrate again.';
  end if;
end $$;

create unique index accounts_one_connected_row_per_unipile_account on public.accounts (unipile_account_id)
  where status <> 'disconnected' and unipile_account_id is not null and unipile_account_id <> '';

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
