import test from 'ava';
import { databaseKind } from './helpers/database.js';
import { attempt, count, fleetDatabases, inBatches, startFleet, tally, whoami } from './helpers/fleet.js';

const databases = fleetDatabases();
test.after.always(() => databases.close());

test.serial(
  `the session cache stays within cacheSize on every instance, and forgotten sessions still work (${databaseKind})`,
  async (t) => {
    const cacheSize = 50;
    const fleet = await startFleet(t, databases, { idleTimeout: '1h', cacheSize });
    const { instances } = fleet;
    const sessions = Array.from({ length: 300 }, (_, i) => ({ user: `many-${i % 100}`, key: `many-key-${i}` }));

    // Each admitted on one instance, then used on another: by then every instance has seen 200
    // sessions, four times its cache.
    const ids = await inBatches(
      sessions.map((s, i) => () => whoami(instances[i % 3], s.user, s.key)),
      20,
    );
    t.is(new Set(ids).size, 300);
    for (const s of instances)
      t.true(s.controller.cachedSessions <= cacheSize, `${s.controller.cachedSessions} cached`);
    const again = await inBatches(
      sessions.map((x, i) => () => whoami(instances[(i + 1) % 3], x.user, x.key)),
      20,
    );
    t.deepEqual(again, ids, 'every session is still itself');
    for (const s of instances)
      t.true(s.controller.cachedSessions <= cacheSize, `${s.controller.cachedSessions} cached`);
    t.is(instances[0].controller.cachedSessions, cacheSize, 'the cache is used up to its size');
    t.is(await count(instances[0].controller), 300, 'forgetting a session never admits it twice');

    // Revoked sessions long forgotten by an instance's cache are refused there too (read from the store).
    const revoked = sessions.slice(0, 30);
    for (const [i, _s] of revoked.entries()) await instances[i % 3].controller.revoke(ids[i]);
    const outcomes = await inBatches(
      instances.flatMap((s) => revoked.map((x) => () => attempt(s, x.user, x.key))),
      20,
    );
    t.deepEqual(tally(outcomes), { 'SESSION_REVOKED 401 REVOKED': 90 });
    for (const s of instances) t.true(s.controller.cachedSessions <= cacheSize);
  },
);
