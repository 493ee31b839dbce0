/**
 * Drill for issue 9, item 1: a stalled link must not hide a revocation.
 *
 * Two instances on one PostgreSQL cluster of the drill's own: A connects directly, B's pool and
 * LISTEN connection go through the fault proxy (or the whole database is frozen by SIGSTOP).
 * bob's session is in B's cache. The link (or the database) freezes and bob is revoked on A.
 *
 * The promise: an instance may serve a session from memory only while it can prove it is in
 * sync, i.e. a change-feed round trip (poll or heartbeat) completed within a documented bound of
 * at most 2 s. Past it, cached sessions are handled as `failMode` says; with 'closed' (the
 * default) bob's request on B fails with SESSION_STORE_UNAVAILABLE (503), or SESSION_REVOKED if
 * B learned of the revocation, no later than bound + syncInterval + margin after the freeze, and
 * is never served as ACTIVE after that.
 */
import test, { type ExecutionContext } from 'ava';
import { FaultProxy } from '../test/helpers/fault-proxy.js';
import { PgCluster } from '../test/helpers/pg-cluster.js';
import { gql, ms, startDrillServer, tally, wait, type Answer, type Caller } from '../test/helpers/drill-app.js';
import type { RunningServer } from '../test/helpers/server.js';

/** The bound the fix documents may be shorter; the drill holds it to the "at most 2 s". */
const FRESHNESS_BOUND_MS = 2_000;
const SYNC_INTERVAL_MS = 500;
/** Room for timers and a busy 2-core machine. */
const MARGIN_MS = 1_000;
/** After this (from the freeze), bob must be refused, and the first refusal must have arrived. */
const DEADLINE_MS = FRESHNESS_BOUND_MS + SYNC_INTERVAL_MS + MARGIN_MS;
/** How long bob keeps asking B while the fault lasts (the issue saw 20 s of serving). */
const WINDOW_MS = 10_000;
const PROBE_EVERY_MS = 100;
/** Longer than the pool's query_timeout (10 s): a store timeout still counts as an answer. */
const PROBE_TIMEOUT_MS = 12_000;
const REFUSALS = ['SESSION_STORE_UNAVAILABLE 503', 'SESSION_REVOKED 401'];
const WHOAMI = '{ whoami }';

const bob: Caller = { user: 'bob', key: 'bob-drill-key' };

/** bob's session on B, used twice so that the second answer comes from B's cache. */
async function cacheBobOn(t: ExecutionContext, b: RunningServer): Promise<string> {
  const first = await gql(b.url, WHOAMI, { as: bob });
  t.is(first.outcome, 'ok', 'bob is admitted on B');
  const sessionId = String(first.data!.whoami).slice('bob:'.length);
  // Let the change feed settle (a few polls) before the fault.
  await wait(4 * SYNC_INTERVAL_MS);
  t.is((await gql(b.url, WHOAMI, { as: bob })).outcome, 'ok', "bob's session is active on B (from its cache)");
  return sessionId;
}

/** Sends bob's request to B every PROBE_EVERY_MS until WINDOW_MS after the freeze; returns the pending answers. */
async function probeUntilWindowEnds(b: RunningServer, frozenAt: number): Promise<Array<Promise<Answer>>> {
  const answers: Array<Promise<Answer>> = [];
  while (performance.now() - frozenAt < WINDOW_MS) {
    answers.push(gql(b.url, WHOAMI, { as: bob, timeoutMs: PROBE_TIMEOUT_MS }));
    await wait(PROBE_EVERY_MS);
  }
  return answers;
}

/** The promise of item 1, checked on every answer B gave during the fault. */
function assertFailedClosed(t: ExecutionContext, fault: string, answers: Answer[], frozenAt: number, revokedAt: number): void {
  const rel = (at: number) => at - frozenAt;
  const served = answers.filter((a) => a.outcome === 'ok');
  const servedLate = served.filter((a) => rel(a.sentAt) >= DEADLINE_MS);
  const lastServed = served.length ? Math.max(...served.map((a) => rel(a.sentAt))) : undefined;
  const refusals = answers.filter((a) => REFUSALS.includes(a.outcome)).sort((x, y) => x.answeredAt - y.answeredAt);
  const firstRefusal = refusals[0];
  const afterDeadline = answers.filter((a) => rel(a.sentAt) >= DEADLINE_MS);
  const wrongAfterDeadline = afterDeadline.filter((a) => !REFUSALS.includes(a.outcome));

  t.log(`${fault}: revoke() on A resolved ${ms(rel(revokedAt))} after the freeze`);
  t.log(
    lastServed === undefined
      ? `${fault}: B never served bob after the freeze`
      : `${fault}: B kept serving bob as ACTIVE for ${ms(lastServed)} after the freeze` +
          (lastServed + PROBE_EVERY_MS * 2 >= WINDOW_MS ? ` (until the end of the ${ms(WINDOW_MS)} window)` : ''),
  );
  t.log(
    firstRefusal
      ? `${fault}: first refusal "${firstRefusal.outcome}" answered ${ms(rel(firstRefusal.answeredAt))} after the freeze (sent at ${ms(rel(firstRefusal.sentAt))})`
      : `${fault}: B never refused bob during the fault`,
  );
  t.log(`${fault}: answers during the ${ms(WINDOW_MS)} window: ${JSON.stringify(tally(answers.map((a) => a.outcome)))}`);

  t.is(
    servedLate.length,
    0,
    `${fault}: B served revoked bob as ACTIVE to ${servedLate.length} request(s) sent ${ms(DEADLINE_MS)} or more after the freeze, ` +
      `the last sent ${ms(lastServed ?? 0)} after it. Promise: past ${ms(FRESHNESS_BOUND_MS)} without a change-feed round trip ` +
      `(+ syncInterval ${ms(SYNC_INTERVAL_MS)} + margin ${ms(MARGIN_MS)}), failMode 'closed' refuses cached sessions.`,
  );
  t.true(
    firstRefusal !== undefined && rel(firstRefusal.answeredAt) <= DEADLINE_MS,
    `${fault}: bob's request on B must fail (${REFUSALS.join(' or ')}) no later than ${ms(DEADLINE_MS)} after the freeze; ` +
      (firstRefusal ? `the first refusal arrived after ${ms(rel(firstRefusal.answeredAt))}` : 'it never failed'),
  );
  t.deepEqual(
    tally(wrongAfterDeadline.map((a) => a.outcome)),
    {},
    `${fault}: every request of bob sent ${ms(DEADLINE_MS)} or more after the freeze must be refused with ${REFUSALS.join(' or ')} ` +
      `(within ${ms(PROBE_TIMEOUT_MS)})`,
  );
}

/**
 * Once the fault is over, B must refuse bob as revoked: the revocation was acknowledged, it must
 * not be lost. Measured before the fault's assertions (a failed assertion ends the test), checked after.
 */
async function answerAfterHeal(t: ExecutionContext, fault: string, b: RunningServer): Promise<string> {
  const healedAt = performance.now();
  let last = '';
  while (performance.now() - healedAt < 5_000) {
    last = (await gql(b.url, WHOAMI, { as: bob, timeoutMs: 5_000 })).outcome;
    if (last === 'SESSION_REVOKED 401') break;
    await wait(100);
  }
  t.log(`${fault}: after the heal B answered bob "${last}" after ${ms(performance.now() - healedAt)}`);
  return last;
}

test.serial('stalled link: B, whose link to PostgreSQL froze with its sockets open, stops serving cached bob after the bound', async (t) => {
  const cluster = await PgCluster.start(t);
  const url = await cluster.createDatabase();
  const proxy = await FaultProxy.to(url);
  t.teardown(() => proxy.close());
  const a = await startDrillServer(t, { database: url, syncInterval: SYNC_INTERVAL_MS });
  const b = await startDrillServer(t, { database: proxy.urlFor(url), syncInterval: SYNC_INTERVAL_MS });
  // Teardowns run last-registered first: thaw before the instances stop, so nothing hangs.
  t.teardown(() => proxy.thaw());

  const bobSession = await cacheBobOn(t, b);

  proxy.freeze();
  const frozenAt = proxy.frozenAt!;
  const probing = probeUntilWindowEnds(b, frozenAt);
  const revoked = await a.controller.revoke(bobSession, { reason: 'ADMIN_REVOKED', note: 'fault drill' });
  const revokedAt = performance.now();
  t.truthy(revoked?.revokedAt, 'A revoked bob (the revocation is committed and acknowledged)');
  t.is((await gql(a.url, WHOAMI, { as: bob })).outcome, 'SESSION_REVOKED 401', 'A refuses bob at once');

  const pending = await probing;
  proxy.thaw();
  const answers = await Promise.all(pending);
  const healed = await answerAfterHeal(t, 'stalled link', b);
  assertFailedClosed(t, 'stalled link', answers, frozenAt, revokedAt);
  t.is(healed, 'SESSION_REVOKED 401', 'stalled link: after the heal, B must refuse bob as revoked within 5 s');
});

test.serial('frozen database (SIGSTOP): B stops serving cached bob after the bound', async (t) => {
  const cluster = await PgCluster.start(t);
  const url = await cluster.createDatabase();
  let freezeOnRevoke = false;
  let frozenAt = 0;
  const a = await startDrillServer(t, {
    database: url,
    syncInterval: SYNC_INTERVAL_MS,
    // The database freezes the moment the revocation has committed, before A's NOTIFY is sent
    // (publishing starts after the commit and waits for a pooled connection first): nothing
    // but a change-feed round trip could tell B, and none can complete. The postmaster AND its
    // backends are stopped: with the postmaster alone stopped, connections already open keep
    // working (each has its own backend process), the NOTIFY reaches B and B refuses bob within
    // ~110 ms on the current code (measured), so that variant exercises nothing.
    onRevoke: () => {
      if (!freezeOnRevoke) return;
      freezeOnRevoke = false;
      cluster.freeze();
      frozenAt = performance.now();
    },
  });
  const b = await startDrillServer(t, { database: url, syncInterval: SYNC_INTERVAL_MS });
  t.teardown(() => cluster.thaw());

  const bobSession = await cacheBobOn(t, b);

  freezeOnRevoke = true;
  const revoked = await a.controller.revoke(bobSession, { reason: 'ADMIN_REVOKED', note: 'fault drill' });
  const revokedAt = performance.now();
  t.truthy(revoked?.revokedAt, 'A revoked bob (the revocation is committed and acknowledged)');
  t.true(cluster.isFrozen, 'the postmaster and every backend are stopped (SIGSTOP)');

  const pending = await probeUntilWindowEnds(b, frozenAt);
  cluster.thaw();
  const answers = await Promise.all(pending);
  const healed = await answerAfterHeal(t, 'frozen database', b);
  assertFailedClosed(t, 'frozen database', answers, frozenAt, revokedAt);
  t.is(healed, 'SESSION_REVOKED 401', 'frozen database: after the heal, B must refuse bob as revoked within 5 s');
});
