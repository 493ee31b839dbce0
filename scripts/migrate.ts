/** `npm run migrate`: applies pending migrations to DATABASE_URL, or to the demo's embedded database. */
import 'reflect-metadata';
import { migrateDatabase, openDatabase } from '../src/store/database.js';

const url = process.env.DATABASE_URL;
const db = await openDatabase(url ? url : { embedded: { dataDir: process.env.DATA_DIR ?? '.data/pglite' } });
try {
  const applied = await migrateDatabase(db);
  console.log(applied.length ? `applied: ${applied.join(', ')}` : 'nothing to apply: the database is up to date');
} finally {
  await db.close();
}
