import { PGlite } from '@electric-sql/pglite';
import test from 'ava';
import { migrationsList } from '../migrations/index.js';
import { SessionController } from '../src/controller.js';
import { migrateDatabase, openDatabase } from '../src/store/database.js';
import { embeddedOrm } from '../src/store/embedded.js';
import { createTestDatabase } from './helpers/database.js';

test('migrations apply once, then find nothing to do, and leave the tables exactly as the entities describe', async (t) => {
  const db = await createTestDatabase();
  t.teardown(() => db.drop());
  const store = await openDatabase(db.option());
  t.teardown(() => store.close());
  t.deepEqual(
    await migrateDatabase(store),
    migrationsList.map((m) => m.name),
  );
  t.deepEqual(await migrateDatabase(store), []);
  // A change to an entity without a migration fails here: run `npm run migration:create -- name`.
  t.false(await store.orm.getMigrator().checkMigrationNeeded());
});

test('several controllers starting at once on one database all migrate it safely', async (t) => {
  const db = await createTestDatabase();
  t.teardown(() => db.drop());
  // On the embedded database, instances in one process share one ORM (one PGlite).
  let option = db.option();
  if (!db.url) {
    const pglite = new PGlite();
    const orm = await embeddedOrm(pglite);
    t.teardown(async () => {
      await orm.close(true);
      await pglite.close();
    });
    option = orm;
  }
  const controllers = await Promise.all(
    [1, 2, 3].map(() => SessionController.create({ database: option, identify: () => null })),
  );
  t.teardown(() => Promise.all(controllers.map((c) => c.close())));
  const sessions = await Promise.all(controllers.map((c, i) => c.openSession({ userId: 'u', sessionKey: `k${i}` })));
  t.is(new Set(sessions.map((s) => s.id)).size, 3);
});
