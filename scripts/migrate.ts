// npm run db:migrate: applies supabase/migrations to DATABASE_URL, or to the embedded PGlite when nothing is set.
import { pgliteDir, resolveDbConfig } from '../lib/db/index.ts';
import { listMigrations, migrate } from '../lib/db/migrate.ts';
import { openPersistentPglite } from '../lib/db/pglite.ts';
import { openPostgres } from '../lib/db/postgres.ts';

const config = resolveDbConfig();
if (config.transport === 'supabase') {
  console.log(
    [
      'Only SUPABASE_URL is set: supabase-js cannot run DDL. Apply the migrations with the Supabase CLI:',
      '  npx supabase link --project-ref <your-project-ref>',
      '  npx supabase db push',
      `(${listMigrations().length} files in supabase/migrations), or set DATABASE_URL to the direct connection string and run npm run db:migrate.`,
    ].join('\n'),
  );
  process.exit(0);
}
const db =
  config.transport === 'postgres'
    ? openPostgres(process.env.DATABASE_URL!, { max: 1 })
    : await openPersistentPglite(pgliteDir());
try {
  const { applied, alreadyApplied } = await migrate(db);
  console.log(
    `${config.describe}: ${applied.length} applied${applied.length ? ` (${applied.join(', ')})` : ''}, ${alreadyApplied} already applied`,
  );
} finally {
  await db.close();
}
