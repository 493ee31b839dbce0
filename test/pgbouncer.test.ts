/**
 * Behind PgBouncer in transaction pooling mode (issue 13, item 5): caps stay exact across
 * instances, revocations reach every instance within a second (LISTEN cannot pass: the poll, or
 * a direct `feedDatabase` connection), and no statement depends on session state. Each test
 * starts a pgbouncer of its own in front of the shared PostgreSQL server.
 *
 * PostgreSQL only. Skipped where pgbouncer is not installed, unless REQUIRE_PGBOUNCER=1 (CI).
 */
import test, { type ExecutionContext } from 'ava';
import { hashSessionKey } from '../src/identity.js';
import { createTestDatabase, onPostgres } from './helpers/database.js';
import { attempt, count, refusedAfter, sql, tally, whoami } from './helpers/fleet.js';
import { internalsOf } from './helpers/internals.js';
import { recordingLogger } from './helpers/logger.js';
import { pgbouncerInstalled, startPgBouncer } from './helpers/pgbouncer.js';
import { type RunningServer, startTestServer } from './helpers/server.js';

const available = onPostgres && pgbouncerInstalled();
if (onPostgres && !available && process.env.REQUIRE_PGBOUNCER === '1') {
  throw new Error('REQUIRE_PGBOUNCER=1 but pgbouncer is not installed (apt-get install pgbouncer)');
}
// Registered only where they can run (PostgreSQL with pgbouncer installed; CI sets
// REQUIRE_PGBOUNCER=1 on its PostgreSQL run, so a missing pgbouncer fails instead of passing).
const run: typeof test.serial = available ? test.serial : ((() => {}) as unknown as typeof test.serial);
if (!available) {
  test('feedDatabase: a direct URL for the LISTEN connection, or false to poll only', async (t) => {
    const { resolveOptions } = await import('../src/options.js');
    const identify = () => null;
    t.is(resolveOptions({ identify, feedDatabase: false }).feedDatabase, false);
    t.is(resolveOptions({ identify, feedDatabase: 'postgres://db:5432/app' }).feedDatabase, 'postgres://db:5432/app');
    t.throws(() => resolveOptions({ identify, feedDatabase: 'mysql://db/app' as never }), { message: /feedDatabase/ });
  });
}

type Options = Omit<Parameters<typeof startTestServer>[0], 'database'>;

/** A database of its own and `count` instances on it, all through one pgbouncer. */
async function behindPgBouncer(t: ExecutionContext, options: (direct: string) => Options, instances = 2) {
  const db = await createTestDatabase();
  t.teardown(() => db.drop());
  const bouncer = await startPgBouncer(db.url!, { poolSize: 3 });
  t.teardown(() => bouncer.stop());
  const url = bouncer.urlFor(db.url!);
  const servers: RunningServer[] = [];
  for (let i = 0; i < instances; i++) {
    const server = await startTestServer({ ...options(db.url!), database: url });
    t.teardown(() => server.stop());
    servers.push(server);
  }
  return { servers, bouncer };
}

run('caps stay exact across two instances in transaction pooling, on every admission path', async (t) => {
  const { servers } = await behindPgBouncer(t, () => ({
    idleTimeout: '1h',
    feedDatabase: false,
    app: { maxSessions: 5 },
    user: { maxSessions: 2 },
  }));
  const users = ['ann', 'ben', 'cat'];
  const requests = users.flatMap((user) => Array.from({ length: 10 }, (_, k) => ({ user, key: `${user}-${k}` })));
  // Each key twice, on both instances: one session per key whoever sees it first.
  const outcomes = await Promise.all(
    requests.flatMap(({ user, key }) => [attempt(servers[0], user, key), attempt(servers[1], user, key)]),
  );
  t.log(`60 concurrent first requests through pgbouncer: ${JSON.stringify(tally(outcomes))}`);
  t.is(await count(servers[0].controller, 'revoked_at is null'), 5, 'the app cap');
  for (const user of users) t.true((await count(servers[0].controller, 'user_id = ?', [user])) <= 2, `${user}'s cap`);
  t.is(await count(servers[0].controller), 5, 'a refused session leaves no row');
  for (let i = 0; i < outcomes.length; i += 2) t.is(outcomes[i], outcomes[i + 1]);
});

run(
  'prepared statements through a pooler that cannot carry them: one warning per instance, then unnamed; no request fails',
  async (t) => {
    // Debian's pgbouncer 1.18 in transaction mode hands each statement to whichever server
    // connection is free: a statement prepared on one is missing on the next (26000), or prepared
    // there already by another client (42P05).
    const recorders = [recordingLogger(), recordingLogger()];
    const warnings = recorders.map((r) => r.lines);
    let instance = 0;
    const { servers } = await behindPgBouncer(t, () => ({
      idleTimeout: '1h',
      feedDatabase: false,
      user: { maxSessions: 2 },
      logger: recorders[instance++].logger,
    }));
    const logins = (round: number) =>
      Promise.all(
        Array.from({ length: 40 }, (_, i) => attempt(servers[i % 2], `user-${round}-${i}`, `key-${round}-${i}`)),
      );
    t.deepEqual(tally(await logins(1)), { ok: 40 }, 'every login of the first burst admitted');
    t.deepEqual(tally(await logins(2)), { ok: 40 }, 'and of the second');
    // A key the instance does not know: the look-up statement, also prepared.
    t.is(await attempt(servers[1], 'user-1-0', 'key-1-0'), 'ok');
    for (const [i, logged] of warnings.entries()) {
      const off = logged.filter((m) => m.includes('prepared statements are off'));
      t.is(off.length, 1, `instance ${i}: one warning, when it switched: ${JSON.stringify(logged)}`);
      t.regex(off[0], /PgBouncer before 1\.21.*preparedStatements: false/);
      t.is(logged.length, 1, `instance ${i}: nothing else logged`);
    }
  },
);

run('preparedStatements: false through the pooler: nothing to switch off, nothing logged', async (t) => {
  const { logger, lines: logged } = recordingLogger();
  const { servers } = await behindPgBouncer(t, () => ({
    idleTimeout: '1h',
    feedDatabase: false,
    preparedStatements: false,
    logger,
  }));
  const outcomes = await Promise.all(Array.from({ length: 40 }, (_, i) => attempt(servers[i % 2], `u-${i}`, `k-${i}`)));
  t.deepEqual(tally(outcomes), { ok: 40 });
  t.deepEqual(logged, []);
});

run('EVICT_OLDEST (the multi-statement transaction) keeps exactly the cap through pgbouncer', async (t) => {
  const { servers } = await behindPgBouncer(t, () => ({
    idleTimeout: '1h',
    feedDatabase: false,
    user: { maxSessions: 2, onLimit: 'EVICT_OLDEST' },
  }));
  const keys = Array.from({ length: 30 }, (_, i) => `dora-${i}`);
  const outcomes = await Promise.all(keys.map((key, i) => attempt(servers[i % 2], 'dora', key)));
  t.deepEqual(tally(outcomes), { ok: 30 });
  t.is(await count(servers[0].controller, 'revoked_at is null'), 2);
  t.is(await count(servers[0].controller, "revoked_reason = 'EVICTED'"), 28);
});

for (const feed of [
  'poll only (feedDatabase: false)',
  'a direct feedDatabase',
  'the default (LISTEN through the pooler)',
] as const) {
  run(`a revocation reaches the other instance within a second: ${feed}`, async (t) => {
    const { servers } = await behindPgBouncer(t, (direct) => ({
      idleTimeout: '1h',
      ...(feed.startsWith('poll')
        ? { feedDatabase: false as const }
        : feed.startsWith('a direct')
          ? { feedDatabase: direct }
          : {}),
    }));
    const [a, b] = servers;
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const id = await whoami(a, 'eve', `eve-${i}`);
      t.is(await attempt(b, 'eve', `eve-${i}`), 'ok', 'cached on the other instance');
      const revoked = performance.now();
      await a.controller.revoke(id);
      times.push(await refusedAfter(b, 'eve', `eve-${i}`, 'SESSION_REVOKED 401 REVOKED', revoked, 1_500));
    }
    t.log(`${feed}: refused on the other instance after ${times.map((ms) => Math.round(ms)).join(', ')} ms`);
    t.true(Math.max(...times) <= 1_000, `worst ${Math.round(Math.max(...times))} ms`);
  });
}

run('tombstones, the sweep and the reconciliation work through the pooler too', async (t) => {
  const { servers } = await behindPgBouncer(
    t,
    () => ({ idleTimeout: '1h', retention: '1s', feedDatabase: false, app: { maxSessions: 100 } }),
    1,
  );
  const [a] = servers;
  const id = await whoami(a, 'max', 'max-key');
  await a.controller.revoke(id, { reason: 'LOGOUT' });
  await new Promise((resolve) => setTimeout(resolve, 1_200));
  await a.controller.prune();
  t.is(await count(a.controller, 'key_hash = ?', [hashSessionKey('max-key')]), 0);
  t.is(await attempt(a, 'max', 'max-key'), 'SESSION_REVOKED 401 LOGOUT');
  await sql(
    a.controller,
    "insert into gsc_session (id, user_id, key_hash, last_seen_at) values (gen_random_uuid(), 'old', 'x', now() - interval '2 hours')",
  );
  t.is(await internalsOf(a.controller).appCount.sweep(), 1);
  t.like(await internalsOf(a.controller).appCount.reconcile(), { counter: 0, actual: 0 });
});
