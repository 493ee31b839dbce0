import test from 'ava';
import { hashSessionKey } from '../src/identity.js';
import { CHANGE_CHANNEL } from '../src/store/change-log.js';
import type { RevokeReason } from '../src/vocabulary.js';
import { databaseKind, onPostgres, POSTGRES_URL } from './helpers/database.js';
import { FaultProxy } from './helpers/fault-proxy.js';
import {
  attempt,
  count,
  type Fleet,
  fleetDatabases,
  inBatches,
  median,
  refusedAfter,
  sql,
  startFleet,
  summary,
  tally,
  wait,
  whoami,
} from './helpers/fleet.js';
import type { RunningServer } from './helpers/server.js';

/** The bound: a change made on one instance is in force on every other within 1 s. */
const BOUND_MS = 1_000;

const databases = fleetDatabases();
test.after.always(() => databases.close());

/**
 * A sequential test would otherwise revoke right after the previous detection, that is right after
 * a poll: a random pause spreads the revocations over the poll cycle, so the delays are typical.
 */
const offPhase = () => wait(Math.random() * 500);

/** Uses the session on every instance, so each holds it in its cache as active. */
async function warm(fleet: Fleet, userId: string, key: string): Promise<string> {
  const ids = await Promise.all(fleet.instances.map((s) => whoami(s, userId, key)));
  return ids[0];
}

/** The delay until each of `others` refuses the session with `expected`, from `since`. */
function delaysOn(
  others: RunningServer[],
  userId: string,
  key: string,
  expected: string,
  since: number,
): Promise<number[]> {
  return Promise.all(others.map((s) => refusedAfter(s, userId, key, expected, since)));
}

test.serial(`a session revoked on one instance is refused on the others within 1 s (${databaseKind})`, async (t) => {
  const fleet = await startFleet(t, databases, { idleTimeout: '1h' });
  const delays: number[] = [];
  const cases: Array<{
    name: string;
    reason: RevokeReason;
    run: (s: RunningServer, id: string, user: string) => Promise<unknown>;
  }> = [
    { name: 'revoke', reason: 'REVOKED', run: (s, id) => s.controller.revoke(id) },
    { name: 'logout', reason: 'LOGOUT', run: (s, id) => s.controller.revoke(id, { reason: 'LOGOUT' }) },
    { name: 'revokeUser', reason: 'ADMIN_REVOKED', run: (s, _id, user) => s.controller.revokeUser(user) },
  ];
  for (const [round, c] of cases.entries()) {
    for (const [i, revoker] of fleet.instances.entries()) {
      const user = `u-${round}-${i}`;
      const key = `${user}-key`;
      const id = await warm(fleet, user, key);
      // A second session of another user, in every cache too: it must not be touched.
      const bystander = `bystander-${round}-${i}`;
      await warm(fleet, bystander, `${bystander}-key`);

      await offPhase();
      await c.run(revoker, id, user);
      const since = performance.now();
      const expected = `SESSION_REVOKED 401 ${c.reason}`;
      t.is(await attempt(revoker, user, key), expected, `${c.name}: the revoking instance refuses at once`);
      const others = fleet.instances.filter((s) => s !== revoker);
      const measured = await delaysOn(others, user, key, expected, since);
      for (const d of measured) t.true(d < BOUND_MS, `${c.name} on instance ${i}: refused after ${d.toFixed(0)} ms`);
      delays.push(...measured);
      for (const s of fleet.instances) t.is(await attempt(s, bystander, `${bystander}-key`), 'ok');
    }
  }
  t.log(`${databaseKind}: revocation reached the other instances after ${summary(delays)}`);
  // Notifications carry it on PostgreSQL; the embedded database has only the poll (every 500 ms).
  if (onPostgres) t.true(median(delays) < 250, `typical delay ${median(delays).toFixed(0)} ms`);
});

test.serial(`an eviction on one instance is refused on the others within 1 s (${databaseKind})`, async (t) => {
  const fleet = await startFleet(t, databases, {
    idleTimeout: '1h',
    user: { maxSessions: 2, onLimit: 'EVICT_OLDEST' },
  });
  const [a, b, c] = fleet.instances;
  const delays: number[] = [];
  for (let round = 0; round < 3; round++) {
    const user = `evictee-${round}`;
    const [first, second, third] = ['first', 'second', 'third'].map((k) => `${user}-${k}`);
    await warm(fleet, user, first);
    // A duration: the two sessions' last use must differ for "least recently seen" to name one.
    await wait(20);
    await warm(fleet, user, second);
    // The third session, admitted on one instance, evicts the least recently seen: the first.
    const admitter = fleet.instances[round];
    await offPhase();
    t.is(await attempt(admitter, user, third), 'ok');
    const since = performance.now();
    const expected = 'SESSION_REVOKED 401 EVICTED';
    t.is(await attempt(admitter, user, first), expected);
    const measured = await delaysOn(
      fleet.instances.filter((s) => s !== admitter),
      user,
      first,
      expected,
      since,
    );
    for (const d of measured) t.true(d < BOUND_MS, `eviction refused after ${d.toFixed(0)} ms`);
    delays.push(...measured);
    for (const s of [a, b, c]) {
      t.is(await attempt(s, user, second), 'ok');
      t.is(await attempt(s, user, third), 'ok');
    }
    t.is(await count(a.controller, 'user_id = ? and revoked_at is null', [user]), 2);
  }
  t.log(`${databaseKind}: eviction reached the other instances after ${summary(delays)}`);
});

test.serial(
  `with the listener connection killed, revocations still arrive within 1 s and the listener comes back (${databaseKind})`,
  async (t) => {
    const storeErrors: string[] = [];
    const fleet = await startFleet(t, databases, {
      idleTimeout: '1h',
      onStoreError: ({ operation }) => storeErrors.push(operation),
    });
    const [a] = fleet.instances;
    const listeners = async () =>
      (
        await sql<{ pid: number }>(
          a.controller,
          "select pid from pg_stat_activity where datname = current_database() and query ilike 'listen%'",
        )
      ).map((r) => r.pid);
    const before = await listeners();
    t.is(before.length, onPostgres ? 3 : 0);
    // Three sessions cached as active everywhere, each to be revoked on another instance.
    const victims = await Promise.all(
      fleet.instances.map(async (revoker, i) => {
        const user = `while-down-${i}`;
        return { revoker, user, key: `${user}-k`, id: await warm(fleet, user, `${user}-k`) };
      }),
    );
    await offPhase();
    // Only this test's database: other test files share the server. PostgreSQL: one LISTEN
    // connection per instance. Embedded: the instances share one in-process database and the poll
    // is their only channel, so there is nothing to kill.
    const killed = await sql(
      a.controller,
      "select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and query ilike 'listen%'",
    );
    t.is(killed.length, onPostgres ? 3 : 0);
    // Revoked at once, well before the listeners retry (after a 1 s pause): only the poll can tell.
    const revoked = await Promise.all(
      victims.map(async (v) => {
        await v.revoker.controller.revoke(v.id);
        return performance.now();
      }),
    );
    // (A killed backend may linger in pg_stat_activity for a moment; a new one would be a reconnect.)
    t.deepEqual(
      (await listeners()).filter((pid) => !before.includes(pid)),
      [],
      'no instance listened again before the sessions were revoked',
    );
    const delays = (
      await Promise.all(
        victims.map((v, i) =>
          delaysOn(
            fleet.instances.filter((s) => s !== v.revoker),
            v.user,
            v.key,
            'SESSION_REVOKED 401 REVOKED',
            revoked[i],
          ),
        ),
      )
    ).flat();
    for (const d of delays) t.true(d < BOUND_MS, `with no listener: refused after ${d.toFixed(0)} ms`);
    t.log(`${databaseKind}: with the listeners killed, revocation arrived after ${summary(delays)}`);

    if (onPostgres) {
      t.true(storeErrors.filter((o) => o === 'listen').length >= 3, 'each instance reported its lost listener');
      // Each instance listens again, on a new connection.
      const deadline = Date.now() + 5_000;
      let again = await listeners();
      while ((again.length < 3 || again.some((pid) => before.includes(pid))) && Date.now() < deadline) {
        await wait(50);
        again = await listeners();
      }
      t.is(again.length, 3);
      t.false(again.some((pid) => before.includes(pid)));
      // Proof that the new connections deliver: a notification about a session that the database
      // still holds as active is obeyed, which no poll could have caused.
      await warm(fleet, 'listened', 'listened-k');
      await sql(a.controller, 'select pg_notify(?, ?)', [
        CHANGE_CHANNEL,
        JSON.stringify({ r: 'ADMIN_REVOKED', k: [hashSessionKey('listened-k')] }),
      ]);
      const since = performance.now();
      const notified = await delaysOn(
        fleet.instances,
        'listened',
        'listened-k',
        'SESSION_REVOKED 401 ADMIN_REVOKED',
        since,
      );
      for (const d of notified) t.true(d < BOUND_MS, `notification obeyed after ${d.toFixed(0)} ms`);
      t.log(`postgresql: after reconnecting, a notification was obeyed after ${summary(notified)}`);
    }

    // Whatever the channel, later revocations keep arriving within the bound.
    const after: number[] = [];
    for (const [i, revoker] of fleet.instances.entries()) {
      const user = `after-${i}`;
      const id = await warm(fleet, user, `${user}-k`);
      await offPhase();
      await revoker.controller.revoke(id);
      const since = performance.now();
      after.push(
        ...(await delaysOn(
          fleet.instances.filter((s) => s !== revoker),
          user,
          `${user}-k`,
          'SESSION_REVOKED 401 REVOKED',
          since,
        )),
      );
    }
    for (const d of after) t.true(d < BOUND_MS, `later revocation refused after ${d.toFixed(0)} ms`);
    t.log(`${databaseKind}: later revocations arrived after ${summary(after)}`);
  },
);

test.serial(
  `an instance closed while its listener reconnects leaves no connection behind; the others carry on (${databaseKind})`,
  async (t) => {
    const fleet = await startFleet(t, databases, { idleTimeout: '1h', onStoreError: () => {} });
    const [a] = fleet.instances;
    const listeners = async () =>
      Number(
        (
          await sql<{ n: number | string }>(
            a.controller,
            "select count(*) as n from pg_stat_activity where datname = current_database() and query ilike 'listen%'",
          )
        )[0].n,
      );
    // On PostgreSQL a fourth instance reaches the database through a proxy that can hold its
    // reconnect half-way; on the embedded database it is one more instance on the shared store.
    let proxy: FaultProxy | undefined;
    if (onPostgres) {
      const target = new URL(POSTGRES_URL!);
      proxy = new FaultProxy(target.hostname, Number(target.port || 5432));
      t.teardown(() => proxy!.close());
      await proxy.open();
    }
    const d = await fleet.add(proxy ? { database: proxy.urlFor(fleet.database as string) } : {});
    await warm(fleet, 'carry-on', 'carry-on-k');
    t.is(await attempt(d, 'carry-on', 'carry-on-k'), 'ok');

    if (proxy) {
      t.is(await listeners(), 4);
      proxy.hold();
      await sql(
        a.controller,
        "select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and query ilike 'listen%'",
      );
      // The instance's listener retries after a pause; its new connection is held.
      const deadline = performance.now() + 5_000;
      while (proxy.heldCount === 0 && performance.now() < deadline) await wait(20);
      t.true(proxy.heldCount > 0, 'the listener tried to reconnect');
    }
    const stopping = d.stop();
    // A duration: the stop is under way (its held reconnect still pending) when the hold ends.
    await wait(200);
    proxy?.release();
    await stopping;

    // The others still spread revocations within the bound.
    const id = await whoami(a, 'carry-on', 'carry-on-k');
    await offPhase();
    await a.controller.revoke(id);
    const since = performance.now();
    const measured = await delaysOn(
      fleet.instances.slice(1),
      'carry-on',
      'carry-on-k',
      'SESSION_REVOKED 401 REVOKED',
      since,
    );
    for (const m of measured) t.true(m < BOUND_MS, `refused after ${m.toFixed(0)} ms`);

    if (onPostgres) {
      // The three running instances listen again; the closed one must not have come back.
      const deadline = performance.now() + 5_000;
      while ((await listeners()) < 3 && performance.now() < deadline) await wait(50);
      // An absence: the closed instance's listener would reconnect within this if it could.
      await wait(300);
      t.is(await listeners(), 3, 'a closed instance holds no LISTEN connection');
    }
  },
);

test.serial(
  `revoking a user's many sessions at once reaches every instance within 1 s (${databaseKind})`,
  async (t) => {
    // On PostgreSQL the poll is pushed out of the way, so the notifications alone must carry all of
    // them (several messages: one holds at most 100); the embedded database has only the poll.
    const fleet = await startFleet(t, databases, { idleTimeout: '1h', syncInterval: onPostgres ? '1h' : '500ms' });
    const [a, b, c] = fleet.instances;
    // More sessions than one notification carries.
    const keys = Array.from({ length: 150 }, (_, i) => `mass-${i}`);
    for (const s of [a, b, c]) {
      await inBatches(
        keys.map((key) => () => s.controller.openSession({ userId: 'mass', sessionKey: key })),
        10,
      );
    }
    t.true(
      b.controller.cachedSessions >= keys.length && c.controller.cachedSessions >= keys.length,
      'cached as active',
    );

    await offPhase();
    t.is((await a.controller.revokeUser('mass')).length, keys.length);
    const since = performance.now();
    await wait(BOUND_MS - 50 - (performance.now() - since));
    const outcomes = await inBatches(
      [b, c].flatMap((s) => keys.map((key) => () => attempt(s, 'mass', key))),
      25,
    );
    t.deepEqual(tally(outcomes), { 'SESSION_REVOKED 401 ADMIN_REVOKED': 2 * keys.length });
  },
);
