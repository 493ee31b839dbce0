/**
 * The embedded database (PGlite). Loaded by `openDatabase` only when it is used, so a server on
 * PostgreSQL never loads PGlite or its driver.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { MikroORM } from '@mikro-orm/core';
import { type PGliteConnectionConfig, PGliteDriver } from 'mikro-orm-pglite';
import { migrationsList } from '../../migrations/index.js';
import { sessionOrmOptions } from './orm-options.js';

/**
 * The store's ORM on a PGlite instance the caller owns (and closes): the way for several
 * controllers in one process to share one embedded database (pass the ORM as `database`).
 * @internal exported for the build's snapshot (scripts/embedded-snapshot.ts) and the tests.
 */
export function embeddedOrm(pglite: PGlite): Promise<MikroORM> {
  return MikroORM.init({
    ...sessionOrmOptions(),
    driver: PGliteDriver,
    dbName: 'postgres',
    driverOptions: { connection: { pglite: () => pglite } satisfies PGliteConnectionConfig },
  });
}

/**
 * The file name of a migrated, empty embedded database, named after the migrations it holds.
 * `npm run build` dumps one next to the compiled code (scripts/embedded-snapshot.ts).
 * @internal exported for that script.
 */
export function snapshotFileName(): string {
  const migrations = createHash('sha256')
    .update(migrationsList.map((m) => m.name).join('\n'))
    .digest('hex');
  return `embedded-${migrations.slice(0, 16)}.tar.gz`;
}

/** Where the package keeps the snapshot: `dist/embedded/` (absent when running from sources). */
const snapshotDirectory = new URL('../../embedded/', import.meta.url);

async function snapshot(): Promise<Blob | undefined> {
  try {
    return new Blob([await readFile(new URL(snapshotFileName(), snapshotDirectory))]);
  } catch {
    return undefined;
  }
}

async function start(dataDir: string | undefined, loadDataDir: Blob | undefined): Promise<PGlite> {
  // One options object: PGlite ignores its second argument when the first is not a string.
  const pglite = new PGlite({ ...(dataDir ? { dataDir } : {}), ...(loadDataDir ? { loadDataDir } : {}) });
  try {
    await pglite.waitReady;
    return pglite;
  } catch (error) {
    await pglite.close().catch(() => {});
    throw error;
  }
}

/**
 * Opens the embedded database: in memory, or kept in `dataDir`. In memory, it starts from the
 * packaged snapshot when there is one: PGlite then skips initdb, about a third of a cold start
 * (bench/cold-start.ts), and the migrations find nothing to do. Without it, or if it does not
 * load, PGlite initializes a fresh cluster. A `dataDir` is initialized once and then resumed.
 */
export async function openEmbedded(dataDir: string | undefined): Promise<{ orm: MikroORM; close(): Promise<void> }> {
  let pglite: PGlite;
  if (dataDir) {
    // PGlite creates its own directory but not the parents; a fresh checkout has neither.
    await mkdir(dataDir, { recursive: true });
    pglite = await start(dataDir, undefined);
  } else {
    const seed = await snapshot();
    pglite = seed
      ? await start(undefined, seed).catch(() => start(undefined, undefined))
      : await start(undefined, undefined);
  }
  const orm = await embeddedOrm(pglite);
  return {
    orm,
    close: async () => {
      await orm.close(true);
      await pglite.close();
    },
  };
}

/** Whether a host-owned ORM runs on the embedded driver. */
export function isEmbeddedOrm(orm: MikroORM): boolean {
  return orm.config.get('driver') === PGliteDriver;
}
