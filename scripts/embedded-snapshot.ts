/**
 * Part of `npm run build`: dumps a migrated, empty embedded database into dist/embedded/, so that
 * an in-memory embedded store starts from it instead of running PGlite's initdb
 * (src/store/embedded.ts; measured by `npm run bench:cold-start`).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { migrateDatabase } from '../src/store/database.js';
import { embeddedOrm, snapshotFileName } from '../src/store/embedded.js';

const target = new URL('../dist/embedded/', import.meta.url);
const pglite = new PGlite();
try {
  const orm = await embeddedOrm(pglite);
  try {
    await migrateDatabase({ orm, kind: 'embedded' });
  } finally {
    await orm.close(true);
  }
  const tarball = await pglite.dumpDataDir('gzip');
  await mkdir(target, { recursive: true });
  const file = new URL(snapshotFileName(), target);
  await writeFile(file, Buffer.from(await tarball.arrayBuffer()));
  console.log(
    `embedded snapshot: ${file.pathname.replace(/.*\/dist\//, 'dist/')} (${Math.round(tarball.size / 1024)} kB)`,
  );
} finally {
  await pglite.close();
}
