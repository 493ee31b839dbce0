import { PGlite } from '@electric-sql/pglite';
import type { MikroORM } from '@mikro-orm/core';
import type { ExecutionContext } from 'ava';
import type { SessionController } from '../../src/controller.js';
import type { DatabaseOption } from '../../src/options.js';
import { migrateDatabase } from '../../src/store/database.js';
import { embeddedOrm as storeOrmOn } from '../../src/store/embedded.js';
import { createTestDatabase, onPostgres } from './database.js';
import { FaultProxy } from './fault-proxy.js';
import { internalsOf } from './internals.js';
import { type ApolloSettings, type RunningServer, startTestServer, type TestContext } from './server.js';

type ServerOptions = Parameters<typeof startTestServer>[0];
type SchemaFactory = Parameters<typeof startTestServer>[1];

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A database of the test's own, gone after the test. */
export interface OwnDatabase {
  /** Pass as `database`: a PostgreSQL URL, or on the embedded database a host-owned MikroORM. */
  option(): DatabaseOption;
  /** The PostgreSQL URL; undefined on the embedded database. */
  url: string | undefined;
}

/**
 * A fresh database for one test. On PostgreSQL, a database of its own, dropped in teardown. On
 * the embedded database, a fresh in-memory PGlite; it starts from a migrated snapshot taken once
 * per test file, because a PGlite initialized from scratch costs seconds of CPU and the
 * end-to-end files need dozens.
 */
export async function ownDatabase(t: ExecutionContext): Promise<OwnDatabase> {
  if (!onPostgres) {
    const orm = await embeddedOrm(t);
    return { option: () => orm, url: undefined };
  }
  const db = await createTestDatabase();
  t.teardown(() => db.drop());
  return db;
}

let snapshot: Promise<File | Blob> | undefined;

/** An empty, migrated embedded database, dumped once. */
function migratedSnapshot(): Promise<File | Blob> {
  snapshot ??= (async () => {
    const pglite = new PGlite();
    try {
      const orm = await initOrm(pglite);
      try {
        await migrateDatabase({ orm, kind: 'embedded' });
      } finally {
        await orm.close(true);
      }
      return await pglite.dumpDataDir('none');
    } finally {
      await pglite.close();
    }
  })();
  return snapshot;
}

const initOrm = storeOrmOn;

/** A host-owned MikroORM on a fresh in-memory PGlite, closed in teardown. */
async function embeddedOrm(t: ExecutionContext): Promise<MikroORM> {
  const pglite = new PGlite({ loadDataDir: await migratedSnapshot() });
  t.teardown(() => pglite.close());
  await pglite.waitReady;
  const orm = await initOrm(pglite);
  t.teardown(() => orm.close(true));
  return orm;
}

/** Starts a test server that teardown stops. */
export async function serve(
  t: ExecutionContext,
  options: ServerOptions,
  schema?: SchemaFactory,
  apollo?: ApolloSettings,
): Promise<RunningServer> {
  const server = await startTestServer(options, schema, apollo);
  t.teardown(() => server.stop());
  return server;
}

/** A server on a database of its own: the usual start of an end-to-end test. */
export async function serveAlone(
  t: ExecutionContext,
  options: Omit<ServerOptions, 'database'>,
  schema?: SchemaFactory,
  apollo?: ApolloSettings,
) {
  const db = await ownDatabase(t);
  return serve(t, { ...options, database: db.option() }, schema, apollo);
}

/**
 * One database that several controllers (server instances) share. On PostgreSQL: a URL, each
 * controller opens its own pool (through a proxy that delays each packet by `latencyMs`, if
 * given). On the embedded database, the instances share one host-owned MikroORM on one PGlite.
 */
export async function sharedDatabase(t: ExecutionContext, { latencyMs = 0 } = {}): Promise<DatabaseOption> {
  const db = await ownDatabase(t);
  if (onPostgres && latencyMs) {
    // Reached through a proxy that delays every packet, as across a network: a race between
    // admissions on different connections would have room to slip through.
    const proxy = await FaultProxy.to(db.url!, latencyMs);
    t.teardown(() => proxy.close());
    return proxy.urlFor(db.url!);
  }
  // On the embedded database a second process cannot attach to an in-memory PGlite: the
  // instances share the one host-owned MikroORM.
  return db.option();
}

/** A database a test can take away from a running controller and give back. */
export interface Outage {
  database: DatabaseOption;
  down(): Promise<void>;
  up(): Promise<void>;
}

/**
 * PostgreSQL: reached through a TCP proxy; `down` refuses new connections and cuts the open ones
 * (pool and LISTEN), as a network outage or a database restart does. Embedded: an in-process
 * PGlite cannot become unreachable, so the host-owned MikroORM the controller runs on is closed
 * and later reconnected.
 */
export async function interruptibleDatabase(t: ExecutionContext): Promise<Outage> {
  if (onPostgres) {
    const db = await ownDatabase(t);
    const proxy = await FaultProxy.to(db.url!);
    t.teardown(() => proxy.close());
    return { database: proxy.urlFor(db.url!), down: () => proxy.close(), up: () => proxy.open() };
  }
  const orm = (await sharedDatabase(t)) as MikroORM;
  return { database: orm, down: () => orm.close(true), up: () => orm.connect().then(() => {}) };
}

/** Raw SQL against the store a controller uses: the test reads the rows themselves. */
export function query<T = Record<string, unknown>>(
  controller: SessionController<TestContext>,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  return internalsOf(controller).sql.all<T>(sql, params);
}

/** Session rows in the database, optionally filtered (e.g. `user_id = 'alice'`). */
export async function countRows(
  controller: SessionController<TestContext>,
  where = 'true',
  params: unknown[] = [],
): Promise<number> {
  const [row] = await query<{ n: number | string }>(
    controller,
    `select count(*) as n from gsc_session where ${where}`,
    params,
  );
  return Number(row.n);
}

/** Sessions that are not revoked (the test chooses timeouts that do not expire them). */
export function countLive(controller: SessionController<TestContext>, userId?: string): Promise<number> {
  return userId === undefined
    ? countRows(controller, 'revoked_at is null')
    : countRows(controller, 'revoked_at is null and user_id = ?', [userId]);
}

/** Waits until `check` returns a value that is not undefined, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs: number, every = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(every);
  }
}

/** Outcome of one GraphQL request as a short label: `ok`, or the error code and HTTP status. */
export async function outcome(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    const response = (error as { response?: { status: number; errors?: Array<{ extensions?: { code?: string } }> } })
      .response;
    if (!response?.errors?.length) throw error;
    return `${response.errors[0].extensions?.code} ${response.status}`;
  }
}

/** How many times each outcome occurred. */
export function tally(outcomes: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of outcomes) counts[o] = (counts[o] ?? 0) + 1;
  return counts;
}
