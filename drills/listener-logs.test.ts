/**
 * Drill for issue 17, item 9 (the listener's and the driver's part): logs during an outage.
 *
 * One instance whose pool and LISTEN connection each go through a TCP proxy, with a recording
 * logger as its `logger` option. The database goes away for 12 s: the pool's link hangs (the
 * proxy accepts and never answers), the listener's is refused. Before: the listener retried every
 * second with a line each time (each failure is counted here through `onStoreError`), and knex printed its own "Connection Error" lines on the console,
 * past the logger, with a timeout worded "The pool is probably full. Are you missing a
 * .transacting(trx) call?". The promise: the listener backs off (about 1, 2, 4, 8 … s, at most
 * 30 s, with jitter): a handful of lines; the driver's lines go through the logger, in the
 * library's words; and once the database is back, the listener is back within a couple of
 * seconds (the poll's first success cuts the backoff short).
 */
import test from 'ava';
import { eventually } from '../test/helpers/core.js';
import { gql, startDrillServer, wait } from '../test/helpers/drill-app.js';
import { recordingLogger } from '../test/helpers/logger.js';
import { PgCluster } from '../test/helpers/pg-cluster.js';
import { FaultProxy } from '../test/helpers/fault-proxy.js';

const OUTAGE_MS = 12_000;

test.serial('an outage: the listener backs off, the driver speaks through the logger, and both come back', async (t) => {
  const cluster = await PgCluster.start(t);
  const url = await cluster.createDatabase('drill');
  const poolProxy = await FaultProxy.to(url);
  const feedProxy = await FaultProxy.to(url);
  t.teardown(() => poolProxy.close());
  t.teardown(() => feedProxy.close());
  const { logger, lines } = recordingLogger();
  const printed: string[] = [];
  const original = { log: console.log, warn: console.warn, error: console.error };
  for (const level of ['log', 'warn', 'error'] as const) {
    console[level] = (...parts: unknown[]) => {
      printed.push(parts.map(String).join(' '));
      original[level](...parts);
    };
  }
  t.teardown(() => Object.assign(console, original));

  // Every failed store call, as the onStoreError hook hears them (the default logging of store
  // errors says an outage once a minute, whatever the number of calls): the listener's tries.
  const storeErrors: string[] = [];
  const server = await startDrillServer(t, {
    database: `${poolProxy.urlFor(url)}?application_name=gsc-logs`,
    feedDatabase: `${feedProxy.urlFor(url)}?application_name=gsc-logs-feed`,
    logger,
    onStoreError: ({ operation }) => storeErrors.push(operation),
  });
  const caller = { user: 'alice', key: 'alice-logs-key' };
  t.is((await gql(server.url, '{ whoami }', { as: caller })).outcome, 'ok');
  const listening = () =>
    cluster.query("select 1 from pg_stat_activity where application_name = 'gsc-logs-feed' and query ilike 'listen%'");
  await eventually(async () => ((await listening()).length ? true : undefined), 5_000);

  // The outage: pooled connections and the listener are cut; new pool connections hang, the listener's are refused.
  await poolProxy.close();
  poolProxy.hold();
  await poolProxy.open();
  await feedProxy.close();
  const outageStarted = lines.length;
  const errorsBefore = storeErrors.length;
  const during = gql(server.url, '{ whoami }', { as: { user: 'bob', key: 'bob-logs-key' }, timeoutMs: 15_000 });
  await wait(OUTAGE_MS);
  const duringOutage = lines.slice(outageStarted);
  const listenTries = storeErrors.slice(errorsBefore).filter((operation) => operation === 'listen');
  t.log(`${duringOutage.length} log lines in the ${OUTAGE_MS / 1000} s outage; the listener failed ${listenTries.length} times`);
  t.log(duringOutage.map((l) => l.slice(0, 160)).join('\n'));
  t.true(listenTries.length >= 1, 'the listener reports that it lost the database');
  t.true(
    listenTries.length <= 6,
    `the listener backs off: ${listenTries.length} failures in ${OUTAGE_MS / 1000} s (a retry every second makes about 12)`,
  );
  t.is((await during).outcome, 'SESSION_STORE_UNAVAILABLE 503');

  // The database comes back.
  await poolProxy.close(); // drops the held connections
  poolProxy.release();
  await poolProxy.open();
  await feedProxy.open();
  const backAt = Date.now();
  await eventually(async () => ((await gql(server.url, '{ whoami }', { as: caller })).outcome === 'ok' ? true : undefined), 10_000);
  await eventually(async () => ((await listening()).length ? true : undefined), 5_000);
  t.log(`listening again ${Date.now() - backAt} ms after the database came back`);

  const knexOnConsole = printed.filter((p) => /Connection Error|probably full|transacting/.test(p));
  t.deepEqual(knexOnConsole, [], "no driver line bypasses the logger option");
  t.deepEqual(
    lines.filter((l) => /probably full|transacting\(trx\)/.test(l)),
    [],
    "knex's misleading wording is replaced",
  );
  t.true(
    lines.some((l) => /a pooled PostgreSQL connection was lost and is replaced/.test(l)),
    "knex's own line, through the logger, in the library's words",
  );
});
