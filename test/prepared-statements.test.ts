import test from 'ava';
import { SessionController } from '../src/controller.js';
import { ownDatabase, query } from './helpers/core.js';
import { databaseKind, onPostgres } from './helpers/database.js';
import type { TestContext } from './helpers/server.js';

// Option `preparedStatements` (default true): on PostgreSQL the admission and the key look-up are
// named statements, parsed and planned once per connection. PgBouncer's side is in
// test/pgbouncer.test.ts. The embedded database runs in-process and ignores the option.

const identify = (ctx: TestContext) => ctx.identity;

/** Logs in `n` new users one after the other, asking after each which named statements a pool connection holds. */
async function namedStatementsSeen(controller: SessionController<TestContext>, n: number): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    await controller.openSession({ userId: `u${i}`, sessionKey: `k${i}` });
    const rows = await query<{ statement: string }>(
      controller,
      "select statement from pg_prepared_statements where name like 'gsc\\_%'",
    );
    for (const row of rows) seen.add(row.statement.replace(/\s+/g, ' ').trim());
  }
  return seen;
}

if (onPostgres) {
  test('by default the admission is a prepared statement on PostgreSQL', async (t) => {
    const db = await ownDatabase(t);
    const sessions = await SessionController.create<TestContext>({ database: db.option(), identify });
    t.teardown(() => sessions.close());
    const seen = [...(await namedStatementsSeen(sessions, 10))];
    t.true(
      seen.some((text) => text.includes('from gsc_admit(')),
      `prepared: ${JSON.stringify(seen)}`,
    );
    t.true(
      seen.every((text) => !/'/.test(text)),
      'no value is part of a prepared text',
    );
  });

  test('preparedStatements: false prepares nothing', async (t) => {
    const db = await ownDatabase(t);
    const sessions = await SessionController.create<TestContext>({
      database: db.option(),
      identify,
      preparedStatements: false,
    });
    t.teardown(() => sessions.close());
    t.deepEqual([...(await namedStatementsSeen(sessions, 10))], []);
  });
}

test(`admissions work with preparedStatements on and off (${databaseKind})`, async (t) => {
  for (const preparedStatements of [true, false]) {
    const db = await ownDatabase(t);
    const sessions = await SessionController.create<TestContext>({
      database: db.option(),
      identify,
      preparedStatements,
      user: { maxSessions: 1 },
    });
    t.teardown(() => sessions.close());
    const first = await sessions.openSession({ userId: 'ann', sessionKey: 'a1' });
    t.is(
      (await sessions.openSession({ userId: 'ann', sessionKey: 'a1' })).id,
      first.id,
      'the same key, the same session',
    );
    await t.throwsAsync(sessions.openSession({ userId: 'ann', sessionKey: 'a2' }), {
      message: /at most 1 concurrent session/,
    });
  }
});
