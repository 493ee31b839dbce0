/**
 * Drill for issue 19, item 4: a change feed that listens where nobody writes.
 *
 * Two PostgreSQL clusters that both say "primary": X, where the fleet writes, and Y, an old
 * primary restarted outside the cluster manager (a split brain the library cannot recognize by
 * asking the server). Instance A's feed URL lists Y first, then X; its pool writes to X.
 * A's LISTEN connection lands on Y, which answers as a primary, and hears nothing: before, it
 * stayed there for good and revocations reached A by the poll alone. The promise: an instance
 * hears its own notifications back on its LISTEN connection; when it does not (within 5 s), the
 * connection is on the wrong server: it says so, leaves that host for the next, and the feed
 * works again (a revocation on B reaches A within 1 s while A polls every 3 s).
 */
import test from 'ava';
import { eventually } from '../test/helpers/core.js';
import { gql, ms, startDrillServer, wait } from '../test/helpers/drill-app.js';
import { recordingLogger } from '../test/helpers/logger.js';
import { PgCluster } from '../test/helpers/pg-cluster.js';

test.serial('a LISTEN connection that hears none of its own notifications leaves that host', async (t) => {
  const [x, y] = await Promise.all([PgCluster.start(t), PgCluster.start(t)]);
  const writes = await x.createDatabase('drill');
  await y.createDatabase('drill');
  const { logger, lines } = recordingLogger();
  const a = await startDrillServer(t, {
    database: `${writes}?application_name=gsc-a`,
    feedDatabase: `postgresql://postgres@127.0.0.1:${y.port},127.0.0.1:${x.port}/drill?application_name=gsc-a-feed`,
    syncInterval: 3_000,
    logger,
  });
  const b = await startDrillServer(t, { database: `${writes}?application_name=gsc-b` });
  const listeningOn = async (cluster: PgCluster) =>
    (
      await cluster.query(
        "select 1 from pg_stat_activity where application_name = 'gsc-a-feed' and query ilike 'listen%'",
      )
    ).length > 0;
  await eventually(async () => ((await listeningOn(y)) ? true : undefined), 10_000);
  t.log("A's LISTEN connection is on Y, an unfenced old primary");

  // A publishes (a login is an ADMITTED notice); it never hears it back on Y.
  const alice = { user: 'alice', key: 'alice-deaf-key' };
  t.is((await gql(a.url, '{ whoami }', { as: alice })).outcome, 'ok');
  const started = Date.now();
  const moved = await eventually(async () => ((await listeningOn(x)) ? true : undefined), 15_000).catch(() => false);
  t.log(`A's LISTEN connection on X after ${ms(Date.now() - started)}`);
  t.true(moved, "A's LISTEN connection left Y for X, where its own notifications are heard");
  t.false(await listeningOn(y), 'and nothing of A listens on Y any more');
  t.true(
    lines.some((l) => /heard none of this instance's own notifications/.test(l)),
    'the reason is logged through the logger',
  );

  // The feed works again: a revocation on B reaches A's memory by notification.
  const bob = { user: 'bob', key: 'bob-deaf-key' };
  const admitted = await gql(a.url, '{ whoami }', { as: bob });
  const sessionId = String(admitted.data?.whoami).split(':')[1];
  t.is((await gql(a.url, '{ whoami }', { as: bob })).outcome, 'ok');
  await b.controller.revoke(sessionId, { reason: 'ADMIN_REVOKED', note: 'deaf-listener drill' });
  const revokedAt = performance.now();
  let refusedAfter = Number.POSITIVE_INFINITY;
  while (performance.now() - revokedAt < 5_000) {
    const answer = await gql(a.url, '{ whoami }', { as: bob });
    if (answer.outcome === 'SESSION_REVOKED 401') {
      refusedAfter = answer.answeredAt - revokedAt;
      break;
    }
    await wait(20);
  }
  t.log(`revocation on B refused by A after ${ms(refusedAfter)} (A polls every 3 s)`);
  t.true(refusedAfter <= 1_000, 'the revocation reached A through the change feed within 1 s');
});
