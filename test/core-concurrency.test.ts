import test from 'ava';
import { hashSessionKey } from '../src/identity.js';
import { countLive, countRows, outcome, query, serve, serveAlone, sharedDatabase, tally } from './helpers/core.js';
import type { RunningServer } from './helpers/server.js';

// Serial: each race opens up to 2 × 11 PostgreSQL connections (a pool of 10 and a listener per
// instance); all of them at once would exceed a default max_connections of 100.

/** Network latency to PostgreSQL in the races (each way), so that a missing lock would show. */
const LATENCY_MS = 2;

interface Whoami {
  whoami: string | null;
}

/** `n` logins of one user with distinct keys, all in flight at once, spread round-robin over the servers. */
function race(servers: RunningServer[], n: number, user: (i: number) => string, key: (i: number) => string) {
  return Promise.all(
    Array.from({ length: n }, (_, i) =>
      outcome(servers[i % servers.length].client(user(i), key(i)).request('{ hello }')),
    ),
  );
}

test.serial('50 concurrent logins of one user with a cap of 2 on one instance: exactly 2 admitted', async (t) => {
  const s = await serve(t, { database: await sharedDatabase(t, { latencyMs: LATENCY_MS }), user: { maxSessions: 2 } });
  const outcomes = await race(
    [s],
    50,
    () => 'alice',
    (i) => `alice-${i}`,
  );
  t.deepEqual(tally(outcomes), { ok: 2, 'SESSION_LIMIT_EXCEEDED 403': 48 });
  t.is(await countRows(s.controller, "user_id = 'alice'"), 2);
  // The two admitted are exactly the two that succeeded.
  const admittedKeys = outcomes.flatMap((o, i) => (o === 'ok' ? [hashSessionKey(`alice-${i}`)] : []));
  t.is(await countRows(s.controller, 'key_hash in (?, ?)', admittedKeys), 2);
});

test.serial(
  '50 concurrent logins of one user with a cap of 2 over two instances on one database: exactly 2 admitted',
  async (t) => {
    const database = await sharedDatabase(t, { latencyMs: LATENCY_MS });
    const a = await serve(t, { database, user: { maxSessions: 2 } });
    const b = await serve(t, { database, user: { maxSessions: 2 } });
    const outcomes = await race(
      [a, b],
      50,
      () => 'alice',
      (i) => `alice-${i}`,
    );
    t.deepEqual(tally(outcomes), { ok: 2, 'SESSION_LIMIT_EXCEEDED 403': 48 });
    t.is(await countRows(a.controller, "user_id = 'alice'"), 2);
  },
);

test.serial('concurrent explicit logins (openSession) on two instances respect the cap too', async (t) => {
  const database = await sharedDatabase(t, { latencyMs: LATENCY_MS });
  const a = await serve(t, { database, user: { maxSessions: 3 } });
  const b = await serve(t, { database, user: { maxSessions: 3 } });
  const results = await Promise.allSettled(
    Array.from({ length: 30 }, (_, i) =>
      (i % 2 ? a : b).controller.openSession({ userId: 'bob', sessionKey: `bob-${i}` }),
    ),
  );
  t.is(results.filter((r) => r.status === 'fulfilled').length, 3);
  for (const r of results) {
    if (r.status === 'rejected')
      t.like(r.reason, { extensions: { code: 'SESSION_LIMIT_EXCEEDED', level: 'USER', limit: 3 } });
  }
  t.is(await countRows(b.controller, "user_id = 'bob'"), 3);
});

test.serial('two concurrent first requests with one new key make one session (one instance)', async (t) => {
  const s = await serveAlone(t, { user: { maxSessions: 5 } });
  const answers = await Promise.all(
    Array.from({ length: 10 }, () => s.client('alice', 'same-key').request<Whoami>('{ whoami }')),
  );
  t.is(new Set(answers.map((a) => a.whoami)).size, 1);
  t.is(await countRows(s.controller), 1);
});

test.serial('two concurrent first requests with one new key make one session (two instances)', async (t) => {
  const database = await sharedDatabase(t, { latencyMs: LATENCY_MS });
  // A cap of 1: if both instances inserted, one of them would also have been refused.
  const a = await serve(t, { database, user: { maxSessions: 1 } });
  const b = await serve(t, { database, user: { maxSessions: 1 } });
  for (let round = 0; round < 5; round++) {
    const key = `shared-key-${round}`;
    const answers = await Promise.all(
      Array.from({ length: 6 }, (_, i) => (i % 2 ? a : b).client(`user-${round}`, key).request<Whoami>('{ whoami }')),
    );
    t.is(new Set(answers.map((x) => x.whoami)).size, 1, `round ${round}: one session id everywhere`);
    t.is(await countRows(a.controller, 'key_hash = ?', [hashSessionKey(key)]), 1);
  }
});

test.serial('the app cap holds under concurrent logins of many users over two instances', async (t) => {
  const database = await sharedDatabase(t, { latencyMs: LATENCY_MS });
  const a = await serve(t, { database, app: { maxSessions: 3 }, user: { maxSessions: 2 } });
  const b = await serve(t, { database, app: { maxSessions: 3 }, user: { maxSessions: 2 } });
  const outcomes = await race(
    [a, b],
    40,
    (i) => `user-${i % 20}`,
    (i) => `key-${i}`,
  );
  t.deepEqual(tally(outcomes), { ok: 3, 'SESSION_LIMIT_EXCEEDED 403': 37 });
  t.is(await countRows(a.controller), 3);
});

test.serial('EVICT_OLDEST under concurrent logins over two instances: never more than the cap alive', async (t) => {
  const database = await sharedDatabase(t, { latencyMs: LATENCY_MS });
  const options = { database, user: { maxSessions: 2, onLimit: 'EVICT_OLDEST' as const } };
  const a = await serve(t, options);
  const b = await serve(t, options);
  const outcomes = await race(
    [a, b],
    20,
    () => 'alice',
    (i) => `alice-${i}`,
  );
  t.deepEqual(tally(outcomes), { ok: 20 }, 'every login is admitted: each evicts the least recently seen');
  t.is(await countLive(a.controller, 'alice'), 2);
  t.is(await countRows(a.controller, "revoked_reason = 'EVICTED'"), 18);
});

test.serial('exempt logins racing with capped ones neither take nor are refused a place', async (t) => {
  const database = await sharedDatabase(t, { latencyMs: LATENCY_MS });
  const options = {
    database,
    app: { maxSessions: 2 },
    isExempt: (id: { userId: string }) => id.userId.startsWith('staff'),
  };
  const a = await serve(t, options);
  const b = await serve(t, options);
  const outcomes = await race(
    [a, b],
    30,
    (i) => (i % 3 === 0 ? `staff-${i}` : `user-${i}`),
    (i) => `key-${i}`,
  );
  const staff = outcomes.filter((_, i) => i % 3 === 0);
  const users = outcomes.filter((_, i) => i % 3 !== 0);
  t.deepEqual(tally(staff), { ok: 10 });
  t.deepEqual(tally(users), { ok: 2, 'SESSION_LIMIT_EXCEEDED 403': 18 });
  const rows = await query<{ exempt: boolean; n: string | number }>(
    a.controller,
    'select exempt, count(*) as n from gsc_session group by exempt order by exempt',
  );
  t.deepEqual(
    rows.map((r) => [r.exempt, Number(r.n)]),
    [
      [false, 2],
      [true, 10],
    ],
  );
});
