import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { MikroORM } from '@mikro-orm/core';
import { PGliteDriver, type PGliteConnectionConfig } from 'mikro-orm-pglite';
import { sessionOrmOptions } from './orm-options.js';

// The embedded database (PGlite). Loaded by `openDatabase` only when it is used, so a server on
// PostgreSQL never loads PGlite or its driver.

/**
 * The store's ORM on a PGlite instance the caller owns (and closes): the way for several
 * controllers in one process to share one embedded database (pass the ORM as `database`).
 */
export function embeddedOrm(pglite: PGlite): Promise<MikroORM> {
  return MikroORM.init({
    ...sessionOrmOptions(),
    driver: PGliteDriver,
    dbName: 'postgres',
    driverOptions: { connection: { pglite: () => pglite } satisfies PGliteConnectionConfig },
  });
}

/** Opens the embedded database: in memory, or kept in `dataDir`. Closing the ORM closes PGlite too. */
export async function openEmbedded(dataDir: string | undefined): Promise<{ orm: MikroORM; close(): Promise<void> }> {
  // PGlite creates its own directory but not the parents; a fresh checkout has neither.
  if (dataDir) await mkdir(dataDir, { recursive: true });
  const pglite = new PGlite(dataDir);
  await pglite.waitReady;
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
