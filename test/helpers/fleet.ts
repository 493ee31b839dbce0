import { PGlite } from '@electric-sql/pglite';
import type { MikroORM } from '@mikro-orm/core';
import type { ExecutionContext } from 'ava';
import type { SessionController } from '../../src/controller.js';
import { hashSessionKey } from '../../src/identity.js';
import type { DatabaseOption } from '../../src/options.js';
import { migrateDatabase } from '../../src/store/database.js';
import { embeddedOrm } from '../../src/store/embedded.js';
import { sqlRunner } from '../../src/store/sql.js';
import { createTestDatabase, onPostgres } from './database.js';
import { internalsOf } from './internals.js';
import { failure, type RunningServer, startTestServer, type TestContext } from './server.js';

type ServerOptions = Parameters<typeof startTestServer>[0];

export const wait = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Databases for fleets: each fleet gets a database that its instances share. On PostgreSQL it is
 * a fresh database per fleet (dropped in teardown), and each instance opens its own pool and
 * LISTEN connection, as separate processes would. An in-memory PGlite cannot be opened twice, so
 * on the embedded database the instances share one host-owned MikroORM on one PGlite; there the
 * poll carries every change. PGlite takes seconds to start on a busy machine, so a test file
 * starts one and empties it for each fleet: such a file runs its tests serially and closes it
 * with `test.after.always(() => databases.close())`.
 */
export function fleetDatabases() {
  let embedded: Promise<{ orm: MikroORM; pglite: PGlite }> | undefined;
  const openEmbedded = async () => {
    const pglite = new PGlite();
    await pglite.waitReady;
    const orm = await embeddedOrm(pglite);
    await migrateDatabase({ orm, kind: 'embedded' });
    return { orm, pglite };
  };
  return {
    async database(t: ExecutionContext): Promise<DatabaseOption> {
      if (onPostgres) {
        const db = await createTestDatabase();
        t.teardown(() => db.drop());
        return db.option();
      }
      embedded ??= openEmbedded();
      const { orm } = await embedded;
      await sqlRunner(orm, 'embedded').all('truncate gsc_session, gsc_lease, gsc_limit_rule');
      return orm;
    },
    async close(): Promise<void> {
      if (!embedded) return;
      const { orm, pglite } = await embedded;
      await orm.close(true);
      await pglite.close();
    },
  };
}

export type FleetDatabases = ReturnType<typeof fleetDatabases>;

export interface Fleet {
  database: DatabaseOption;
  instances: RunningServer[];
  /** Starts one more instance on the same database (stopped in teardown). */
  add(options?: Partial<ServerOptions>): Promise<RunningServer>;
}

/** `count` server instances (controller + Apollo server each) on one database, stopped in teardown. */
export async function startFleet(
  t: ExecutionContext,
  databases: FleetDatabases,
  options: Omit<ServerOptions, 'database'>,
  count = 3,
): Promise<Fleet> {
  const database = await databases.database(t);
  const add = async (extra: Partial<ServerOptions> = {}) => {
    const server = await startTestServer({ ...options, database, ...extra });
    t.teardown(() => server.stop());
    return server;
  };
  const instances: RunningServer[] = [];
  // One after the other: each applies (or finds applied) the migrations before the next starts.
  for (let i = 0; i < count; i++) instances.push(await add());
  return { database, instances, add };
}

/** Raw SQL on the database a controller uses. */
export function sql<T = Record<string, unknown>>(
  controller: SessionController<TestContext>,
  text: string,
  params: unknown[] = [],
): Promise<T[]> {
  return internalsOf(controller).sql.all<T>(text, params);
}

export async function count(
  controller: SessionController<TestContext>,
  where = 'true',
  params: unknown[] = [],
): Promise<number> {
  const [row] = await sql<{ n: number | string }>(
    controller,
    `select count(*) as n from gsc_session where ${where}`,
    params,
  );
  return Number(row.n);
}

/** The stored row of a session key, looked up by its digest. */
export async function rowOf(controller: SessionController<TestContext>, sessionKey: string) {
  const [row] = await sql<{
    id: string;
    last_seen_at: Date | string;
    revoked_at: Date | string | null;
    revoked_reason: string | null;
  }>(controller, 'select id, last_seen_at, revoked_at, revoked_reason from gsc_session where key_hash = ?', [
    hashSessionKey(sessionKey),
  ]);
  return row;
}

/** The session id a request runs under, via the test schema's `whoami` (`user:id`). */
export async function whoami(server: RunningServer, userId: string, sessionKey: string): Promise<string> {
  const { whoami } = await server.client(userId, sessionKey).request<{ whoami: string }>('{ whoami }');
  return whoami.slice(userId.length + 1);
}

/** Outcome of one request as a short label: `ok`, or `CODE status` (plus the reason, if any). */
export async function attempt(server: RunningServer, userId: string, sessionKey: string): Promise<string> {
  try {
    await server.client(userId, sessionKey).request('{ whoami }');
    return 'ok';
  } catch (error) {
    const f = await failure(Promise.reject(error));
    const reason = f.extensions.reason ?? f.extensions.level;
    return `${f.code} ${f.status}${reason ? ` ${String(reason)}` : ''}`;
  }
}

/**
 * Milliseconds from `since` until `server` refuses the session with `expected`, asking every
 * ~20 ms (each answer that is not the refusal must be `ok`). Fails after `limitMs`.
 */
export async function refusedAfter(
  server: RunningServer,
  userId: string,
  sessionKey: string,
  expected: string,
  since: number,
  limitMs = 3_000,
): Promise<number> {
  for (;;) {
    const result = await attempt(server, userId, sessionKey);
    const now = performance.now();
    if (result === expected) return now - since;
    if (result !== 'ok') throw new Error(`expected "ok" or "${expected}", got "${result}"`);
    if (now - since > limitMs) throw new Error(`still accepted ${Math.round(now - since)} ms later`);
    await wait(20);
  }
}

/** Runs `tasks` with at most `width` in flight at once. */
export async function inBatches<T>(tasks: Array<() => Promise<T>>, width: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const index = next++;
      results[index] = await tasks[index]();
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, tasks.length) }, worker));
  return results;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

export function summary(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  return `n=${sorted.length} min=${sorted[0].toFixed(0)} median=${median(sorted).toFixed(0)} max=${sorted[sorted.length - 1].toFixed(0)} ms`;
}

/** How many times each outcome occurred. */
export function tally(outcomes: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of outcomes) counts[o] = (counts[o] ?? 0) + 1;
  return counts;
}
