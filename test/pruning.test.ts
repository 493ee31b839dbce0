import test from 'ava';
import { PRUNE_BATCH_SIZE } from '../src/store/prune-batches.js';
import { databaseKind } from './helpers/database.js';
import { attempt, count, fleetDatabases, sql, startFleet, tally, wait, whoami } from './helpers/fleet.js';
import type { RunningServer } from './helpers/server.js';

const databases = fleetDatabases();
test.after.always(() => databases.close());

/**
 * Inserts `n` sessions of one kind directly (the API takes real time to age rows). `lastSeen`,
 * `created` and `revoked` are SQL expressions; keys are unique per `kind`.
 */
async function insertSessions(
  s: RunningServer,
  kind: string,
  n: number,
  times: { created: string; lastSeen: string; revoked: string },
): Promise<void> {
  await sql(
    s.controller,
    `insert into gsc_session (id, user_id, key_hash, created_at, last_seen_at, revoked_at, revoked_reason)
     select gen_random_uuid(), ? || (g % 50), md5(? || g) || md5(g || ?), ${times.created}, ${times.lastSeen},
            ${times.revoked}, case when ${times.revoked} is null then null else 'REVOKED' end
       from generate_series(1, ?::int) g`,
    [kind, kind, kind, n],
  );
}

const userCount = (s: RunningServer, prefix: string) => count(s.controller, 'user_id like ?', [`${prefix}%`]);

test.serial(
  `prune deletes sessions dead for longer than retention and dead leases, in batches, and keeps the rest (${databaseKind})`,
  async (t) => {
    // Timeouts and retention in minutes and hours; the rows are aged in SQL.
    const options = { idleTimeout: '1h', absoluteTimeout: '1d', retention: '1m', leaseTtl: '1m' };
    const fleet = await startFleet(t, databases, options, 1);
    const [a] = fleet.instances;
    const live = ['live-1', 'live-2', 'live-3'];
    const liveIds = await Promise.all(live.map((u) => whoami(a, u, `${u}-key`)));
    const recentlyRevokedId = await whoami(a, 'recent-revoked', 'recent-revoked-key');
    await a.controller.revoke(recentlyRevokedId);

    // Dead longer than retention (more than two batches in all): to be deleted.
    await insertSessions(a, 'old-revoked-', 2_300, {
      created: "now() - interval '10 minutes'",
      lastSeen: "now() - interval '5 minutes'",
      revoked: "now() - interval '2 minutes'",
    });
    await insertSessions(a, 'old-idle-', 300, {
      created: "now() - interval '2 hours'",
      lastSeen: "now() - interval '62 minutes'",
      revoked: 'null',
    });
    await insertSessions(a, 'old-absolute-', 100, {
      created: "now() - interval '1 day 2 minutes'",
      lastSeen: 'now()',
      revoked: 'null',
    });
    // Dead, but for less than retention: kept for audit.
    await insertSessions(a, 'new-revoked-', 20, {
      created: "now() - interval '1 hour'",
      lastSeen: "now() - interval '1 hour'",
      revoked: "now() - interval '20 seconds'",
    });
    await insertSessions(a, 'new-idle-', 20, {
      created: "now() - interval '2 hours'",
      lastSeen: "now() - interval '60 minutes 20 seconds'",
      revoked: 'null',
    });
    // Long-lived but active: kept.
    await insertSessions(a, 'old-but-active-', 20, {
      created: "now() - interval '20 hours'",
      lastSeen: "now() - interval '50 minutes'",
      revoked: 'null',
    });

    // Leases: a live session's fresh lease stays; a stale one, a revoked session's, and an unknown session's go.
    await sql(
      a.controller,
      `insert into gsc_lease (field, scope_key, session_id, acquired_at, last_used_at) values
       ('Query.exam', 'live-1', ?, now(), now()),
       ('Query.exam', 'live-2', ?, now() - interval '5 minutes', now() - interval '2 minutes'),
       ('Query.seat', '*', ?, now(), now()),
       ('Query.seat', '*', gen_random_uuid(), now(), now())`,
      [liveIds[0], liveIds[1], recentlyRevokedId],
    );

    const result = await a.controller.prune();
    t.deepEqual(result, { sessions: 2_300 + 300 + 100, leases: 3, ran: true });
    t.true(result.sessions > 2 * PRUNE_BATCH_SIZE, 'more than two batches were needed');
    t.is(await userCount(a, 'old-revoked-'), 0);
    t.is(await userCount(a, 'old-idle-'), 0);
    t.is(await userCount(a, 'old-absolute-'), 0);
    t.is(await userCount(a, 'new-revoked-'), 20);
    t.is(await userCount(a, 'new-idle-'), 20);
    t.is(await userCount(a, 'old-but-active-'), 20);
    t.deepEqual(await sql(a.controller, 'select field, scope_key from gsc_lease'), [
      { field: 'Query.exam', scope_key: 'live-1' },
    ]);

    // What users see is unchanged: live sessions work, the recently revoked one is still refused.
    for (const u of live) t.is(await attempt(a, u, `${u}-key`), 'ok');
    t.is(await attempt(a, 'recent-revoked', 'recent-revoked-key'), 'SESSION_REVOKED 401 REVOKED');

    // Nothing left to do: a second pass deletes nothing.
    t.deepEqual(await a.controller.prune(), { sessions: 0, leases: 0, ran: true });
  },
);

test.serial(`the background job prunes on its own with a tiny retention (${databaseKind})`, async (t) => {
  // Long enough to see the row kept on a busy machine, short enough to see it go.
  const fleet = await startFleet(t, databases, { idleTimeout: '1h', retention: 800, pruneInterval: 200 }, 1);
  const [a] = fleet.instances;
  const goneId = await whoami(a, 'tiny', 'tiny-gone');
  await whoami(a, 'tiny', 'tiny-kept');
  await a.controller.revoke(goneId);
  t.is(await count(a.controller, 'id = ?', [goneId]), 1, 'kept while younger than retention');
  const deadline = performance.now() + 5_000;
  while ((await count(a.controller, 'id = ?', [goneId])) && performance.now() < deadline) await wait(50);
  t.is(await count(a.controller, 'id = ?', [goneId]), 0, 'deleted by the job, without calling prune()');
  t.is(await attempt(a, 'tiny', 'tiny-kept'), 'ok');
  t.is(await count(a.controller), 1);
});

test.serial(
  `two instances pruning at once delete every dead row once, without errors, while requests go on (${databaseKind})`,
  async (t) => {
    const storeErrors: string[] = [];
    const fleet = await startFleet(
      t,
      databases,
      {
        idleTimeout: '1h',
        retention: '1m',
        onStoreError: ({ operation, error }) => storeErrors.push(`${operation}: ${error.message}`),
      },
      2,
    );
    const [a, b] = fleet.instances;
    await insertSessions(a, 'dead-', 3_500, {
      created: "now() - interval '10 minutes'",
      lastSeen: "now() - interval '10 minutes'",
      revoked: "now() - interval '5 minutes'",
    });
    await insertSessions(a, 'alive-', 30, {
      created: 'now()',
      lastSeen: 'now()',
      revoked: 'null',
    });

    const [pa, pb, requests] = await Promise.all([
      a.controller.prune(),
      b.controller.prune(),
      Promise.all(Array.from({ length: 20 }, (_, i) => attempt(i % 2 ? a : b, `during-${i}`, `during-${i}-key`))),
    ]);
    t.is(pa.sessions + pb.sessions, 3_500, `deleted ${pa.sessions} + ${pb.sessions}`);
    t.true(pa.ran || pb.ran);
    t.deepEqual(tally(requests), { ok: 20 }, 'admissions went on while pruning');
    t.is(await userCount(a, 'dead-'), 0);
    t.is(await userCount(a, 'alive-'), 30);
    t.is(await userCount(a, 'during-'), 20);
    t.deepEqual(storeErrors, []);
    t.log(
      `${databaseKind}: instance A deleted ${pa.sessions} (ran: ${pa.ran}), instance B ${pb.sessions} (ran: ${pb.ran})`,
    );
  },
);
