/**
 * The app cap at any size (issue 13, item 2): the app count is a counter kept by triggers, swept
 * of expired sessions and reconciled with the rows, and admission counts exactly only near the
 * cap. These tests hold the counter to the rows through every kind of write, and the cap to
 * exactness at its boundary, on both paths (shared lock far from the cap, exclusive near it).
 */
import test from 'ava';
import { SessionController } from '../src/controller.js';
import { ownDatabase } from './helpers/core.js';
import { databaseKind, onPostgres } from './helpers/database.js';
import { attempt, count, fleetDatabases, sql, startFleet, tally } from './helpers/fleet.js';
import { internalsOf } from './helpers/internals.js';
import type { RunningServer } from './helpers/server.js';

const databases = fleetDatabases();
test.after.always(() => databases.close());

const counter = (s: RunningServer) => internalsOf(s.controller).store.appCount.counted();
const counted = (s: RunningServer) => count(s.controller, 'revoked_at is null and exempt = false and swept_at is null');

/** `n` sessions written straight into the table, as a bulk import would, for users `${prefix}0..49`. */
async function bulkInsert(s: RunningServer, prefix: string, n: number, extra = { exempt: 'false', lastSeen: 'now()' }) {
  await sql(
    s.controller,
    `insert into gsc_session (id, user_id, key_hash, exempt, last_seen_at)
     select gen_random_uuid(), ? || (g % 50), md5(? || g) || md5(g || ?), ${extra.exempt}, ${extra.lastSeen}
       from generate_series(1, ?::int) g`,
    [prefix, prefix, prefix, n],
  );
}

test.serial(`the counter follows every write to the table, whoever makes it (${databaseKind})`, async (t) => {
  const {
    instances: [a],
  } = await startFleet(t, databases, { idleTimeout: '1h', app: { maxSessions: 1_000_000 } }, 1);
  t.is(await counter(a), 0);
  for (let i = 0; i < 5; i++) t.is(await attempt(a, `ann${i}`, `ann-key-${i}`), 'ok');
  await a.controller.openSession({ userId: 'staff', sessionKey: 'staff-1', exempt: true });
  t.is(await counter(a), 5, 'admissions count; exempt ones do not');

  await bulkInsert(a, 'import-', 1_200);
  await bulkInsert(a, 'import-exempt-', 30, { exempt: 'true', lastSeen: 'now()' });
  t.is(await counter(a), 1_205, 'a bulk INSERT counts');

  await a.controller.revokeUser('import-7');
  t.is(await counter(a), 1_205 - 24, 'revocations uncount');
  await sql(a.controller, "update gsc_session set exempt = true where user_id = 'import-8'");
  await sql(a.controller, "delete from gsc_session where user_id = 'import-9'");
  await sql(a.controller, "update gsc_session set revoked_at = null, revoked_reason = null where user_id = 'import-7'");
  t.is(await counter(a), await counted(a), 'an operator UPDATE or DELETE is followed too');
  t.is(await counter(a), 1_205 - 24 - 24 - 24 + 24);

  // A write that bypasses the triggers (a data-only restore with triggers disabled): the
  // reconciliation finds the difference and corrects it.
  await internalsOf(a.controller).sql.transaction(async (tx) => {
    await tx.all("set local session_replication_role = 'replica'");
    await tx.all(
      `insert into gsc_session (id, user_id, key_hash) select gen_random_uuid(), 'restored', md5('r' || g) from generate_series(1, 40) g`,
    );
  });
  t.is(await counter(a), 1_157, 'the triggers did not see the restore');
  const reconciliation = await internalsOf(a.controller).appCount.reconcile();
  t.like(reconciliation, { counter: 1_157, actual: 1_197 });
  t.is(await counter(a), 1_197);

  await sql(a.controller, 'truncate gsc_session cascade');
  t.is(await counter(a), 0, 'TRUNCATE empties the counter');
});

test.serial(
  `the sweep stops counting expired sessions, a late touch does not bring one back, a longer timeout does (${databaseKind})`,
  async (t) => {
    const fleet = await startFleet(t, databases, { idleTimeout: '1h', app: { maxSessions: 1_000_000 } }, 1);
    const [a] = fleet.instances;
    await bulkInsert(a, 'fresh-', 100);
    await bulkInsert(a, 'idle-', 300, { exempt: 'false', lastSeen: "now() - interval '61 minutes'" });
    t.is(await counter(a), 400, 'expired sessions are counted until swept: an upper bound');
    t.is(await internalsOf(a.controller).appCount.sweep(), 300);
    t.is(await counter(a), 100);
    t.is(await count(a.controller, 'swept_at is not null'), 300);

    // A touch that arrives after the session expired (a lagging flush) leaves it expired.
    const [idle] = await sql<{ id: string }>(
      a.controller,
      "select id from gsc_session where user_id = 'idle-3' limit 1",
    );
    await internalsOf(a.controller).store.sessions.touch([{ id: idle.id, at: new Date() }]);
    t.is(await count(a.controller, "id = ? and last_seen_at > now() - interval '1 hour'", [idle.id]), 0);

    // Another instance with a longer idle timeout: the sessions are alive again by its clock, and
    // its reconciliation counts them again.
    const longer = await fleet.add({ idleTimeout: '2h' });
    const reconciliation = await internalsOf(longer.controller).appCount.reconcile();
    t.is(reconciliation.revived, 300);
    t.is(await counter(a), 400);
  },
);

test.serial(
  `the app cap is exact at its boundary, on the shared and the exclusive path, across instances (${databaseKind})`,
  async (t) => {
    // max_connections is the margin of the shared path: below cap - margin admissions share the app
    // lock; above it they take it in turn and count. The cap is set so that a wave crosses from one to the other.
    const fleet = await startFleet(t, databases, { idleTimeout: '1h' }, 1);
    const [{ margin }] = await sql<{ margin: number }>(
      fleet.instances[0].controller,
      "select current_setting('max_connections')::int as margin",
    );
    const seeded = 500;
    await bulkInsert(fleet.instances[0], 'seed-', seeded);
    const cap = seeded + Number(margin) + 20;
    const instances = [
      await fleet.add({ idleTimeout: '1h', app: { maxSessions: cap } }),
      await fleet.add({ idleTimeout: '1h', app: { maxSessions: cap } }),
      await fleet.add({ idleTimeout: '1h', app: { maxSessions: cap } }),
    ];
    const wave = Number(margin) + 60;
    const outcomes = await Promise.all(
      Array.from({ length: wave }, (_, i) => attempt(instances[i % 3], `wave-user-${i}`, `wave-key-${i}`)),
    );
    const live = await count(instances[0].controller, 'revoked_at is null and exempt = false');
    t.is(live, cap, JSON.stringify(tally(outcomes)));
    t.deepEqual(tally(outcomes), { ok: cap - seeded, 'SESSION_LIMIT_EXCEEDED 403 APP': wave - (cap - seeded) });
    t.is(await counter(instances[0]), cap);

    // One session ends: exactly one seat, for exactly one of many concurrent newcomers.
    const [one] = await sql<{ id: string }>(
      instances[0].controller,
      "select id from gsc_session where user_id like 'seed-%' limit 1",
    );
    // The count follows the revocation in its own transaction (a trigger): no wait. Refused keys
    // are remembered for a second, but these are new keys.
    await instances[0].controller.revoke(one.id);
    const second = await Promise.all(
      Array.from({ length: 12 }, (_, i) => attempt(instances[i % 3], `late-${i}`, `late-key-${i}`)),
    );
    t.deepEqual(tally(second), { ok: 1, 'SESSION_LIMIT_EXCEEDED 403 APP': 11 });
    t.is(await count(instances[0].controller, 'revoked_at is null and exempt = false'), cap);
  },
);

test.serial(`a sweep pass goes through every counted session, batch after batch (${databaseKind})`, async (t) => {
  const {
    instances: [a],
  } = await startFleet(t, databases, { idleTimeout: '1h', app: { maxSessions: 1_000_000 } }, 1);
  // 23,000 sessions, every 7th idle for longer than the timeout, spread over three batches.
  await sql(
    a.controller,
    `insert into gsc_session (id, user_id, key_hash, created_at, last_seen_at)
     select gen_random_uuid(), 'many-' || (g % 500), md5('many' || g), now() - (g || ' seconds')::interval,
            case when g % 7 = 0 then now() - interval '2 hours' else now() end
       from generate_series(1, 23000) g`,
  );
  t.is(await internalsOf(a.controller).appCount.sweep(), Math.floor(23_000 / 7));
  t.is(await counter(a), 23_000 - Math.floor(23_000 / 7));
  t.is(await counter(a), await counted(a));
  t.is(await internalsOf(a.controller).appCount.sweep(), 0, 'nothing left');
});

test.serial(`an expired session frees its app seat at once, before any sweep (${databaseKind})`, async (t) => {
  const fleet = await startFleet(t, databases, { idleTimeout: '1h', app: { maxSessions: 3 } }, 1);
  const [a] = fleet.instances;
  for (let i = 0; i < 3; i++) t.is(await attempt(a, `u${i}`, `k${i}`), 'ok');
  t.is(await attempt(a, 'u9', 'k9'), 'SESSION_LIMIT_EXCEEDED 403 APP');
  await sql(a.controller, "update gsc_session set last_seen_at = now() - interval '2 hours' where user_id = 'u0'");
  t.is(await counter(a), 3, 'not swept yet');
  t.is(await attempt(a, 'u8', 'k8'), 'ok', 'the exact count near the cap sees the expiry');
});

test(`no caller behind the app lock waits for a connection: a burst near a large cap gets clean answers (${databaseKind})`, async (t) => {
  if (!onPostgres) {
    t.pass('PostgreSQL only: the embedded database has one connection and no pool to exhaust');
    return;
  }
  const db = await ownDatabase(t);
  const seeded = 100_000;
  const controller = await SessionController.create({
    database: db.option(),
    identify: () => null,
    idleTimeout: '1h',
    app: { maxSessions: seeded + 10 },
  });
  t.teardown(() => controller.close());
  const { sql: runner } = internalsOf(controller);
  // 20 expired sessions the sweep has not seen yet: the counter reaches the cap after 10
  // admissions, and from then on every admission counts the live rows exactly (100,000), in turn.
  for (let from = 1; from <= seeded; from += 25_000) {
    await runner.all(
      `insert into gsc_session (id, user_id, key_hash, last_seen_at)
       select gen_random_uuid(), 'seed-' || (g % 5000), md5('s' || g), case when g <= 20 then now() - interval '2 hours' else now() end
         from generate_series(?::int, ?::int) g`,
      [from, from + 24_999],
    );
  }
  await runner.all('vacuum analyze gsc_session').catch(() => {});
  const started = performance.now();
  const outcomes = await Promise.all(
    Array.from({ length: 40 }, (_, i) =>
      controller.openSession({ userId: `burst-${i}`, sessionKey: `burst-${i}` }).then(
        () => 'ok',
        (error: { extensions?: { code?: string; level?: string } }) =>
          `${error.extensions?.code} ${error.extensions?.level ?? ''}`.trim(),
      ),
    ),
  );
  const ms = performance.now() - started;
  t.log(
    `40 concurrent admissions near a cap of ${seeded + 10}: ${JSON.stringify(tally(outcomes))} in ${Math.round(ms)} ms`,
  );
  // 20 of the seeded sessions are expired: 30 seats.
  t.deepEqual(tally(outcomes), { ok: 30, 'SESSION_LIMIT_EXCEEDED APP': 10 });
});
