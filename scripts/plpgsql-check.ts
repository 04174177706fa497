// npm run check:plpgsql: runs plpgsql_check over every PL/pgSQL function in schema public of a freshly migrated
// temporary database. PL/pgSQL is only parsed at create time; a misspelt column or a wrong type in a branch the tests
// never reach fails in production. Every finding is printed; exit 1 when one has level 'error'.
// Needs the extension on the server (Debian: apt-get install postgresql-15-plpgsql-check; no restart needed).
import postgres from 'postgres';
import { ADMIN_URL, withMigratedDatabase } from './schema.ts';

interface Finding {
  lineno: number | null;
  statement: string | null;
  sqlstate: string | null;
  message: string;
  detail: string | null;
  hint: string | null;
  level: string;
  query: string | null;
}

const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
const [available] = await admin`select 1 from pg_available_extensions where name = 'plpgsql_check'`;
await admin.end();
if (!available) {
  const how = 'apt-get install postgresql-15-plpgsql-check';
  // CI must not pass by skipping; a developer without the package is told what they are missing.
  if (process.env.CI) {
    console.error(`plpgsql_check is not installed on the server (${how}): CI cannot skip this check`);
    process.exit(1);
  }
  console.log(`SKIPPED: plpgsql_check is not installed (${how})`);
  process.exit(0);
}

const errors = await withMigratedDatabase('plpgsql_check', async (url) => {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await sql`create extension plpgsql_check`;
    // Extension members are excluded in case an extension ever ships PL/pgSQL into public.
    const functions = await sql<{ oid: number; name: string; trigger: boolean }[]>`
      select p.oid::int as oid, p.oid::regprocedure::text as name, p.prorettype = 'trigger'::regtype as trigger
      from pg_proc p
      join pg_language l on l.oid = p.prolang
      where p.pronamespace = 'public'::regnamespace and l.lanname = 'plpgsql'
        and not exists (select 1 from pg_depend d where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')
      order by 2`;
    let errors = 0;
    let checked = 0;
    for (const fn of functions) {
      // A trigger function is checked against the table it fires on (NEW/OLD have that row type), once per table.
      // A statement trigger with transition tables reads them by name: plpgsql_check is told those names.
      const targets: { relid: number; table: string | null; oldtable: string | null; newtable: string | null }[] =
        fn.trigger
          ? await sql`select distinct tgrelid::int as relid, tgrelid::regclass::text as "table",
                             tgoldtable::text as oldtable, tgnewtable::text as newtable
                      from pg_trigger where tgfoid = ${fn.oid} and not tgisinternal order by 2`
          : [{ relid: 0, table: null, oldtable: null, newtable: null }];
      if (targets.length === 0) {
        console.log(`note: ${fn.name} skipped: a trigger function no trigger uses (nothing to check NEW/OLD against)`);
        continue;
      }
      for (const { relid, table, oldtable, newtable } of targets) {
        checked++;
        // fatal_errors => false: every error of the function, not only the first.
        const findings = await sql<Finding[]>`
          select lineno, statement, sqlstate, message, detail, hint, level, query
          from plpgsql_check_function_tb(${fn.oid}::regprocedure, ${relid}::regclass, fatal_errors => false,
                                         oldtable => ${oldtable}::name, newtable => ${newtable}::name)`;
        for (const f of findings) {
          if (f.level === 'error') errors++;
          const where = `${fn.name}${table ? ` on ${table}` : ''} line ${f.lineno ?? '?'}${f.statement ? ` (${f.statement})` : ''}`;
          console.log(`${f.level}: ${where}: ${f.message} [sqlstate ${f.sqlstate ?? '-'}]`);
          if (f.detail) console.log(`  detail: ${f.detail}`);
          if (f.hint) console.log(`  hint: ${f.hint}`);
          if (f.query) console.log(`  query: ${f.query.replace(/\s+/g, ' ').trim()}`);
        }
      }
    }
    console.log(`plpgsql_check: ${functions.length} PL/pgSQL functions, ${checked} checks, ${errors} errors`);
    return errors;
  } finally {
    await sql.end();
  }
});
process.exit(errors > 0 ? 1 : 0);
