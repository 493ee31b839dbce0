import test from 'ava';
import { hashSessionKey } from '../src/identity.js';
import { databaseKind } from './helpers/database.js';
import { attempt, count, fleetDatabases, sql, startFleet, tally, wait } from './helpers/fleet.js';

const databases = fleetDatabases();
test.after.always(() => databases.close());

test.serial(
  `caps stay exact under concurrent first requests spread over three instances (${databaseKind})`,
  async (t) => {
    const fleet = await startFleet(t, databases, {
      idleTimeout: '1h',
      app: { maxSessions: 5 },
      user: { maxSessions: 2 },
    });
    const { instances } = fleet;
    const users = ['ann', 'ben', 'cat'];
    // 60 first requests at once: 3 users × 10 keys, each key sent twice (to two different
    // instances), every request to the instance its index picks.
    const requests = users.flatMap((user) =>
      Array.from({ length: 10 }, (_, k) => `${user}-key-${k}`).flatMap((key) => [
        { user, key },
        { user, key },
      ]),
    );
    const outcomes = await Promise.all(requests.map(({ user, key }, i) => attempt(instances[i % 3], user, key)));

    const live = await count(instances[0].controller, 'revoked_at is null');
    t.is(live, 5, 'the app cap admits exactly 5 sessions');
    for (const user of users)
      t.true((await count(instances[0].controller, 'user_id = ?', [user])) <= 2, `${user} has at most 2`);
    t.is(await count(instances[0].controller), 5, 'a refused session leaves no row');

    const admitted = new Set<string>();
    for (const [i, { key }] of requests.entries()) {
      const result = outcomes[i];
      t.true(
        ['ok', 'SESSION_LIMIT_EXCEEDED 403 USER', 'SESSION_LIMIT_EXCEEDED 403 APP'].includes(result),
        `unexpected outcome ${result}`,
      );
      if (result === 'ok') admitted.add(key);
    }
    t.is(admitted.size, 5, 'one session per admitted key, whichever instance saw it first');
    // Both requests with one key got the same answer: the second found the first's row.
    for (let i = 0; i < requests.length; i += 2) t.is(outcomes[i], outcomes[i + 1], requests[i].key);
    t.log(`${databaseKind}: outcomes of 60 concurrent first requests: ${JSON.stringify(tally(outcomes))}`);

    // The admitted sessions work on every instance; a second wave of new keys is all refused.
    for (const key of admitted) {
      const user = key.split('-')[0];
      for (const s of instances) t.is(await attempt(s, user, key), 'ok');
    }
    const second = await Promise.all(
      Array.from({ length: 30 }, (_, i) => attempt(instances[i % 3], users[i % 3], `${users[i % 3]}-late-${i}`)),
    );
    t.true(
      second.every((o) => o.startsWith('SESSION_LIMIT_EXCEEDED 403')),
      JSON.stringify(tally(second)),
    );
    t.is(await count(instances[0].controller), 5);
  },
);

test.serial(
  `EVICT_OLDEST under concurrent logins on three instances keeps exactly the cap (${databaseKind})`,
  async (t) => {
    const fleet = await startFleet(t, databases, {
      idleTimeout: '1h',
      user: { maxSessions: 2, onLimit: 'EVICT_OLDEST' },
    });
    const { instances } = fleet;
    const keys = Array.from({ length: 30 }, (_, i) => `dora-${i}`);
    const outcomes = await Promise.all(keys.map((key, i) => attempt(instances[i % 3], 'dora', key)));
    // Every login is admitted (the oldest make room); exactly two stay live.
    t.deepEqual(tally(outcomes), { ok: 30 });
    t.is(await count(instances[0].controller, 'user_id = ?', ['dora']), 30);
    t.is(await count(instances[0].controller, 'revoked_at is null'), 2);
    t.is(await count(instances[0].controller, "revoked_reason = 'EVICTED'"), 28);

    const ended = performance.now();
    const live = new Set(
      (
        await sql<{ key_hash: string }>(
          instances[0].controller,
          'select key_hash from gsc_session where revoked_at is null',
        )
      ).map((r) => r.key_hash),
    );
    const survivors = keys.filter((key) => live.has(hashSessionKey(key)));
    t.is(survivors.length, 2);

    // An instance may have cached a session as active that another instance evicted: within the
    // propagation bound (1 s) of the wave, every instance refuses all 28 and serves the 2 others.
    await wait(Math.max(0, 1_000 - (performance.now() - ended)));
    const checks = await Promise.all(
      instances.flatMap((s) => keys.map(async (key) => ({ key, result: await attempt(s, 'dora', key) }))),
    );
    for (const { key, result } of checks) {
      t.is(result, survivors.includes(key) ? 'ok' : 'SESSION_REVOKED 401 EVICTED', key);
    }
    t.is(await count(instances[0].controller, 'revoked_at is null'), 2, 'refusals admitted nothing');
  },
);
