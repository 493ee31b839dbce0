import test from 'ava';
import { SessionController } from '../src/controller.js';
import type { StoreErrorEvent } from '../src/hooks.js';
import { eventually, interruptibleDatabase, outcome, ownDatabase, query, serve, sleep } from './helpers/core.js';
import { onPostgres } from './helpers/database.js';
import { FaultProxy } from './helpers/fault-proxy.js';
import type { RunningServer, TestContext } from './helpers/server.js';

/*
 * The database goes away under a running server and comes back.
 * - PostgreSQL: the controller reaches the database through a TCP proxy; closing the proxy refuses
 *   new connections and cuts the open ones (pool and LISTEN connection), as a network outage or a
 *   database restart does.
 * - Embedded: an in-process PGlite cannot become unreachable, so the store's connection is taken
 *   away instead: the host-owned MikroORM the controller runs on is closed and later reconnected.
 * Either way the controller is never restarted. The tests run serially: they measure time.
 */

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
process.on('unhandledRejection', onUnhandled);
test.after.always(() => process.off('unhandledRejection', onUnhandled));

/** The sync interval of these servers. */
const SYNC_MS = 200;
/** Their staleness bound (`maxStaleness`): a cached session is trusted this long after the last poll. */
const STALE_MS = 2 * SYNC_MS;

interface Whoami {
  whoami: string | null;
}

const whoami = async (s: RunningServer, user?: string, key?: string) =>
  (await s.client(user, key).request<Whoami>('{ whoami }')).whoami;

/**
 * Waits until an instance cut off from the database stops serving a known session from memory:
 * once its last poll is older than the staleness bound. The bound is kept, with room for a loaded
 * machine's timers; the requests that probe are answered from memory or refused, never admitted.
 */
async function failsClosed(s: RunningServer, user: string, key: string): Promise<void> {
  await eventually(
    async () =>
      (await outcome(s.client(user, key).request('{ hello }'))) === 'SESSION_STORE_UNAVAILABLE 503' ? true : undefined,
    STALE_MS + 2_000,
    50,
  );
}

/** Waits for the server to govern requests again, and says how long it took. */
async function recovered(s: RunningServer, user: string, key: string): Promise<{ whoami: string; afterMs: number }> {
  const started = Date.now();
  const who = await eventually(
    async () => {
      const o = await s
        .client(user, key)
        .request<Whoami>('{ whoami }')
        .then(
          (r) => r.whoami,
          () => undefined,
        );
      return o ?? undefined;
    },
    10_000,
    100,
  );
  return { whoami: who, afterMs: Date.now() - started };
}

test.serial(
  "failMode 'closed': governed requests get SESSION_STORE_UNAVAILABLE 503, and it recovers by itself",
  async (t) => {
    const outage = await interruptibleDatabase(t);
    const errors: StoreErrorEvent[] = [];
    const s = await serve(t, {
      database: outage.database,
      failMode: 'closed',
      syncInterval: SYNC_MS,
      maxStaleness: STALE_MS,
      user: { maxSessions: 1 },
      onStoreError: (e) => errors.push(e),
    });
    const alice = await whoami(s, 'alice', 'a1');
    t.regex(alice!, /^alice:/);

    await outage.down();
    for (let i = 0; i < 3; i++) {
      t.is(await outcome(s.client('bob', 'b1').request('{ hello }')), 'SESSION_STORE_UNAVAILABLE 503');
    }
    const login = await t.throwsAsync(s.controller.openSession({ userId: 'carol', sessionKey: 'c1' }));
    t.like(login, { extensions: { code: 'SESSION_STORE_UNAVAILABLE' } } as object);
    t.deepEqual(
      await s.client().request('{ hello whoami }'),
      { hello: 'world', whoami: null },
      'anonymous requests pass',
    );
    // A known session is served from memory only while the instance is in sync; after that the
    // instance cannot know whether it was revoked elsewhere, so it fails closed too.
    await failsClosed(s, 'alice', 'a1');
    t.is(await outcome(s.client('alice', 'a1').request('{ hello }')), 'SESSION_STORE_UNAVAILABLE 503');
    t.true(
      errors.some((e) => e.operation === 'request'),
      'the failure is reported through onStoreError',
    );
    t.true(errors.every((e) => e.error instanceof Error));

    await outage.up();
    const back = await recovered(s, 'bob', 'b1');
    t.log(`governing again ${back.afterMs} ms after the database returned`);
    t.regex(back.whoami, /^bob:/);
    t.is(await whoami(s, 'alice', 'a1'), alice, 'sessions admitted before the outage are intact');
    t.like(await s.controller.openSession({ userId: 'carol', sessionKey: 'c1' }), { userId: 'carol' });
    t.is(await outcome(s.client('alice', 'a2').request('{ hello }')), 'SESSION_LIMIT_EXCEEDED 403', 'caps apply again');
    await sleep(2 * SYNC_MS); // a duration: no unhandled rejection surfaces from the next polls
    t.deepEqual(unhandled, []);
  },
);

test.serial(
  "failMode 'open': governed requests pass ungoverned while the database is away, then are governed again",
  async (t) => {
    const outage = await interruptibleDatabase(t);
    const errors: StoreErrorEvent[] = [];
    const s = await serve(t, {
      database: outage.database,
      failMode: 'open',
      syncInterval: SYNC_MS,
      maxStaleness: STALE_MS,
      user: { maxSessions: 1 },
      onStoreError: (e) => errors.push(e),
    });
    t.regex((await whoami(s, 'alice', 'a1'))!, /^alice:/);

    await outage.down();
    // The request runs, without a session (the store could not say which).
    t.is(await whoami(s, 'bob', 'b1'), null);
    t.is(await whoami(s, 'bob', 'b2'), null, 'no cap can be checked either: open means open');
    // Past the staleness bound, as the instance's clock measures it: an open instance answers the
    // same before and after it, so no answer can tell when it passed.
    await sleep(3 * SYNC_MS);
    t.is(await outcome(s.client('alice', 'a1').request('{ hello }')), 'ok');
    t.true(
      errors.some((e) => e.operation === 'request'),
      'every pass is reported through onStoreError',
    );

    await outage.up();
    const back = await recovered(s, 'bob', 'b1');
    t.regex(back.whoami, /^bob:/, 'b1 is admitted once the store is back');
    t.is(
      await outcome(s.client('bob', 'b2').request('{ hello }')),
      'SESSION_LIMIT_EXCEEDED 403',
      'and the cap holds again',
    );
    await sleep(2 * SYNC_MS); // a duration: no unhandled rejection surfaces from the next polls
    t.deepEqual(unhandled, []);
  },
);

if (onPostgres) {
  test.serial(
    'a revocation made while an instance is cut off is never served there: 503 meanwhile, SESSION_REVOKED after',
    async (t) => {
      const db = await ownDatabase(t);
      const proxy = await FaultProxy.to(db.url!);
      t.teardown(() => proxy.close());
      const options = {
        failMode: 'closed' as const,
        syncInterval: SYNC_MS,
        maxStaleness: STALE_MS,
        onStoreError: () => {},
      };
      const cutOff = await serve(t, { ...options, database: proxy.urlFor(db.url!) });
      const other = await serve(t, { ...options, database: db.url! });
      const id = (await whoami(cutOff, 'alice', 'a1'))!.split(':')[1];

      await proxy.close();
      await other.controller.revoke(id, { reason: 'ADMIN_REVOKED' });
      // The notification cannot reach the cut-off instance, nor can its poll. Within the sync bound
      // it may still serve the session from memory; past it, it must not.
      await failsClosed(cutOff, 'alice', 'a1');
      for (let i = 0; i < 3; i++) {
        t.is(await outcome(cutOff.client('alice', 'a1').request('{ hello }')), 'SESSION_STORE_UNAVAILABLE 503');
      }

      await proxy.open();
      const seen = await eventually(
        async () => {
          const o = await outcome(cutOff.client('alice', 'a1').request('{ hello }'));
          return o === 'SESSION_STORE_UNAVAILABLE 503' ? undefined : o;
        },
        10_000,
        100,
      );
      t.is(seen, 'SESSION_REVOKED 401');
      t.deepEqual(unhandled, []);
    },
  );

  test.serial('the LISTEN connection comes back by itself: revocations arrive by notification again', async (t) => {
    const db = await ownDatabase(t);
    const proxy = await FaultProxy.to(db.url!);
    t.teardown(() => proxy.close());
    // Polling every hour: only a notification can tell the instance of a revocation in time.
    const options = { syncInterval: '1h', onStoreError: () => {} };
    const cutOff = await serve(t, { ...options, database: proxy.urlFor(db.url!) });
    const other = await serve(t, { ...options, database: db.url! });
    const listeners = async () =>
      Number(
        (
          await query<{ n: string | number }>(
            other.controller,
            "select count(*) as n from pg_stat_activity where datname = current_database() and query ilike 'listen%'",
          )
        )[0].n,
      );
    t.is(await listeners(), 2);
    const id = (await whoami(cutOff, 'alice', 'a1'))!.split(':')[1];

    await proxy.close();
    await eventually(async () => ((await listeners()) === 1 ? true : undefined), 5_000);
    await proxy.open();
    await eventually(async () => ((await listeners()) === 2 ? true : undefined), 5_000);

    await other.controller.revoke(id, { reason: 'ADMIN_REVOKED' });
    const seen = await eventually(async () => {
      const o = await outcome(cutOff.client('alice', 'a1').request('{ hello }'));
      return o === 'ok' ? undefined : o;
    }, 1_000);
    t.is(seen, 'SESSION_REVOKED 401');
    t.deepEqual(unhandled, []);
  });

  test.serial(
    'a database that accepts connections but never answers fails requests in seconds, not minutes',
    async (t) => {
      const db = await ownDatabase(t);
      const proxy = await FaultProxy.to(db.url!);
      t.teardown(() => proxy.close());
      const s = await serve(t, {
        database: proxy.urlFor(db.url!),
        syncInterval: SYNC_MS,
        maxStaleness: STALE_MS,
        onStoreError: () => {},
      });
      await whoami(s, 'alice', 'a1');
      // Cut the open connections, then accept new ones and never answer them: a black hole.
      await proxy.close();
      proxy.hold();
      await proxy.open();
      const started = Date.now();
      t.is(await outcome(s.client('bob', 'b1').request('{ hello }')), 'SESSION_STORE_UNAVAILABLE 503');
      const took = Date.now() - started;
      t.log(`refused after ${took} ms`);
      t.true(took < 8_000, `took ${took} ms`);
      await proxy.close(); // drops the held connections
      proxy.release();
      await proxy.open();
      t.regex((await recovered(s, 'bob', 'b1')).whoami, /^bob:/);
      t.deepEqual(unhandled, []);
    },
  );
}

test('a controller pointed at a dead port fails at create, quickly and clearly, without leaking the password', async (t) => {
  const started = Date.now();
  const error = await t.throwsAsync(
    SessionController.create<TestContext>({
      database: 'postgres://postgres:hunter2-secret@127.0.0.1:1/nothing',
      identify: (ctx) => ctx.identity,
    }),
  );
  t.true(Date.now() - started < 5_000);
  t.regex(error!.message, /option "database".*ECONNREFUSED 127\.0\.0\.1:1/);
  t.false(JSON.stringify({ message: error!.message, stack: error!.stack }).includes('hunter2-secret'));
  t.deepEqual(unhandled, []);
});
