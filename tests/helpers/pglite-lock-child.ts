/**
 * Run by tests/db-port.test.ts in a separate process (`node tests/helpers/pglite-lock-child.ts <dir>`): opens the
 * persistent PGlite in <dir>, prints `opened` and exits 0, or prints the error as JSON on stderr and exits 3.
 */
import { openPersistentPglite } from '../../lib/db/pglite.ts';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: pglite-lock-child.ts <dir>');
  process.exit(2);
}
try {
  const db = await openPersistentPglite(dir);
  await db.close();
  console.log('opened');
  process.exit(0);
} catch (e) {
  const err = e as { code?: string; message?: string };
  console.error(JSON.stringify({ code: err.code, message: err.message ?? String(e) }));
  process.exit(3);
}
