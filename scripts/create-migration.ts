/**
 * Generates a migration from the difference between the entities and a scratch embedded
 * database at the latest migration. Register the new class in migrations/index.ts.
 */
import 'reflect-metadata';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { MikroORM } from '@mikro-orm/core';
import { PGliteDriver } from 'mikro-orm-pglite';
import { sessionOrmOptions } from '../src/store/orm-options.js';

const pglite = new PGlite();
const base = sessionOrmOptions();
const orm = await MikroORM.init({
  ...base,
  driver: PGliteDriver,
  dbName: 'postgres',
  driverOptions: { connection: { pglite: () => pglite } },
  migrations: { ...base.migrations, path: fileURLToPath(new URL('../migrations', import.meta.url)), emit: 'ts' },
});
try {
  await orm.getMigrator().up();
  const result = await orm.getMigrator().createMigration(undefined, false, false, process.argv[2]);
  console.log(result.fileName ? `created migrations/${result.fileName}` : 'no changes: entities match the migrations');
} finally {
  await orm.close(true);
  await pglite.close();
}
