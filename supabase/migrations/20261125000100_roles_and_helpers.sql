-- Roles Supabase has; created here when absent so the same migrations run on plain PostgreSQL and PGlite.
-- Roles are cluster-wide: concurrent migrators (tests) may race, hence the exception handler.
do $$
declare r text;
begin
  foreach r in array array['anon', 'authenticated', 'service_role'] loop
    if not exists (select 1 from pg_roles where rolname = r) then
      begin
        execute format('create role %I nologin', r);
      exception when duplicate_object or unique_violation then null;
      end;
    end if;
  end loop;
end $$;

-- Functions are callable by nobody but the owner and service_role unless a migration says otherwise.
alter default privileges in schema public revoke execute on functions from public;
alter default privileges in schema public revoke execute on functions from anon, authenticated;

create or replace function public.set_updated_at() returns trigger
language plpgsql as $$
begin
  new.updated_at := now();
  return new;
end $$;

-- Used by a CHECK constraint: an unknown time zone is refused at insert, not discovered by the cron at 3 a.m.
create or replace function public.is_valid_timezone(p_tz text) returns boolean
language plpgsql immutable as $$
begin
  if p_tz is null or p_tz = '' then return false; end if;
  perform now() at time zone p_tz;
  return true;
exception when others then
  return false;
end $$;

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
