import { randomBytes } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import pg from 'pg';
import { SessionController } from '../src/controller.js';
import { SessionConfigError } from '../src/errors.js';
import { ownDatabase } from './helpers/core.js';
import { onPostgres, POSTGRES_URL } from './helpers/database.js';
import { FaultProxy } from './helpers/fault-proxy.js';

// The `database` option's edges: a PostgreSQL URL naming a database that does not exist is an
// error naming it, and creating it is an explicit opt-in (`createDatabase`); an empty URL means
// the embedded database; a database slow to answer at start-up is waited for, within a bound.
// The PostgreSQL cases run when TEST_DATABASE_URL is set.

const identify = () => null;

function urlFor(name: string): string {
  const url = new URL(POSTGRES_URL!);
  url.pathname = `/${name}`;
  return url.toString();
}

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

const exists = (name: string) =>
  admin(async (c) => (await c.query('select 1 from pg_database where datname = $1', [name])).rowCount === 1);

if (onPostgres) {
  test('a database that does not exist fails create with a SessionConfigError naming it and the option; nothing is created', async (t) => {
    const name = `gsc_typo_${randomBytes(4).toString('hex')}`;
    t.teardown(() => admin((c) => c.query(`drop database if exists ${name} with (force)`)));
    const error = await t.throwsAsync(SessionController.create({ database: urlFor(name), identify }), {
      instanceOf: SessionConfigError,
    });
    t.regex(error!.message, new RegExp(`"database".*"${name}" does not exist.*createDatabase: true`));
    t.false(await exists(name), 'a typo in the URL must not create a database');
  });

  test('createDatabase: true creates the missing database, migrates it and serves', async (t) => {
    const name = `gsc_created_${randomBytes(4).toString('hex')}`;
    t.teardown(() => admin((c) => c.query(`drop database if exists ${name} with (force)`)));
    const sessions = await SessionController.create({ database: urlFor(name), createDatabase: true, identify });
    t.teardown(() => sessions.close());
    t.true(await exists(name));
    const opened = await sessions.openSession({ userId: 'u1', sessionKey: 'k1' });
    t.is(opened.userId, 'u1');
  });

  test('createDatabase: true on a database that exists changes nothing', async (t) => {
    const name = `gsc_present_${randomBytes(4).toString('hex')}`;
    await admin((c) => c.query(`create database ${name}`));
    t.teardown(() => admin((c) => c.query(`drop database if exists ${name} with (force)`)));
    const sessions = await SessionController.create({ database: urlFor(name), createDatabase: true, identify });
    t.teardown(() => sessions.close());
    t.is((await sessions.openSession({ userId: 'u1', sessionKey: 'k1' })).userId, 'u1');
  });

  /** A database of its own behind a link that is frozen from the start: its URL and the proxy. */
  const frozenDatabase = async (t: ExecutionContext) => {
    const db = await ownDatabase(t);
    const proxy = await FaultProxy.to(db.url!);
    t.teardown(() => proxy.close());
    proxy.freeze();
    return { proxy, url: proxy.urlFor(db.url!) };
  };

  // A busy host can take longer than the 3 s connect timeout to answer one connection (CI saw it
  // once on a fresh database): that alone must not fail a server's start.
  test('a database that answers its first connection after the connect timeout: create tries again and serves', async (t) => {
    const { proxy, url } = await frozenDatabase(t);
    const thaw = setTimeout(() => proxy.thaw(), 4_000);
    t.teardown(() => clearTimeout(thaw));
    const started = Date.now();
    const sessions = await SessionController.create({ database: url, identify });
    t.teardown(() => sessions.close());
    t.true(Date.now() - started >= 3_000, 'create waited past the first attempt');
    t.is((await sessions.openSession({ userId: 'u1', sessionKey: 'k1' })).userId, 'u1');
  });

  test('a database that never answers fails create within about 10 s, naming the option and the cause', async (t) => {
    const { url } = await frozenDatabase(t);
    const started = Date.now();
    const error = await t.throwsAsync(SessionController.create({ database: url, identify }));
    const took = Date.now() - started;
    t.regex(error!.message, /option "database": no answer from PostgreSQL within 3000 ms, 3 attempts/);
    t.true(took >= 9_000 && took < 13_000, `gave up after ${took} ms`);
  });
} else {
  test('database: "" (an empty DATABASE_URL) starts the embedded database', async (t) => {
    const sessions = await SessionController.create({ database: '', identify });
    t.teardown(() => sessions.close());
    t.is((await sessions.openSession({ userId: 'u1', sessionKey: 'k1' })).userId, 'u1');
  });
}
