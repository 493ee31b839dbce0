/**
 * Live connections are released when they go (issue 17 item 1, docs/contract.md §12 "Release,
 * fail-closed, seats"): however a socket ends, its subscriptions end at once, it leaves the
 * registry, its touches stop, and its session idles out by the ordinary rules. Real graphql-ws
 * clients whose sockets are dropped abruptly, as a closed tab or a lost network drops them.
 */
import test from 'ava';
import { eventually, ownDatabase, sharedDatabase } from './helpers/core.js';
import { onPostgres } from './helpers/database.js';
import { FaultProxy } from './helpers/fault-proxy.js';
import { connect, subscribe } from './helpers/ws.js';
import { liveInstance, SESSION_EVENTS } from './helpers/ws-app.js';

test.serial(
  'two devices dropped abruptly while following sessionEvents free their seats under the cap once the idle timeout passes',
  async (t) => {
    const a = await liveInstance(t, await sharedDatabase(t), {
      idleTimeout: '1500ms',
      touchInterval: '300ms',
      user: { maxSessions: 2 },
      onStoreError: () => {},
    });
    const devices = [connect(a.ws, { user: 'alice', key: 'dev-1' }), connect(a.ws, { user: 'alice', key: 'dev-2' })];
    t.teardown(() => Promise.all(devices.map((d) => d.dispose())));
    await Promise.all(devices.map((d) => d.connected));
    for (const device of devices) subscribe(device.client, SESSION_EVENTS);
    await eventually(async () => (a.http.controller.openSubscriptions === 2 ? true : undefined), 3_000);
    await t.throwsAsync(a.http.controller.openSession({ userId: 'alice', sessionKey: 'dev-3' }), {
      message: /limit/i,
    });

    for (const device of devices) device.terminate();
    const dropped = Date.now();
    await eventually(async () => (a.http.controller.openConnections === 0 ? true : undefined), 2_000);
    t.is(a.http.controller.openSubscriptions, 0, 'no subscription is left on the server');

    // The idle timeout (1.5 s) passes with no device left: the third sign-in is admitted.
    const third = await eventually(
      () => a.http.controller.openSession({ userId: 'alice', sessionKey: 'dev-3' }).catch(() => undefined),
      8_000,
      200,
    );
    t.is(third.userId, 'alice');
    t.log(`third sign-in admitted ${Date.now() - dropped} ms after the drop`);
  },
);

test.serial(
  'a governed subscription waiting for its next event: dropping its socket frees the seat at once, for another session',
  async (t) => {
    const a = await liveInstance(t, await sharedDatabase(t));
    const first = connect(a.ws, { user: 'bo', key: 'bo-1' });
    const second = connect(a.ws, { user: 'bo', key: 'bo-2' });
    t.teardown(() => Promise.all([first.dispose(), second.dispose()]));
    await Promise.all([first.connected, second.connected]);
    subscribe(first.client, 'subscription { quiet }');
    await eventually(async () => (a.http.controller.openSubscriptions === 1 ? true : undefined), 3_000);
    const refused = subscribe(second.client, 'subscription { quiet }');
    await refused.waitFor(1);
    t.like((refused.error as Array<{ extensions: unknown }>)?.[0]?.extensions, { code: 'SESSION_LIMIT_EXCEEDED' });

    first.terminate();
    await eventually(async () => (a.http.controller.openConnections === 1 ? true : undefined), 2_000);
    // The seat is free at once (not after leaseTtl, 5 minutes): the other session takes it.
    const taken = subscribe(second.client, 'subscription { quiet }');
    await eventually(async () => {
      const holders = await a.http.controller.leaseHolders('Subscription.quiet', 'bo');
      return holders.length === 1 && !taken.done ? holders : undefined;
    }, 3_000);
    t.false(taken.done, 'the second session streams');
  },
);

test.serial('a clean complete and a server shutdown end sessionEvents streams at once', async (t) => {
  const a = await liveInstance(t, await sharedDatabase(t));
  const cy = connect(a.ws, { user: 'cy', key: 'cy-1' });
  t.teardown(() => cy.dispose());
  await cy.connected;
  const first = subscribe(cy.client, SESSION_EVENTS);
  subscribe(cy.client, SESSION_EVENTS);
  await eventually(async () => (a.http.controller.openSubscriptions === 2 ? true : undefined), 3_000);
  first.unsubscribe();
  await eventually(async () => (a.http.controller.openSubscriptions === 1 ? true : undefined), 1_000);
  await a.stopWebSocket();
  await eventually(async () => (a.http.controller.openSubscriptions === 0 ? true : undefined), 1_000);
  t.is(a.http.controller.openConnections, 0);
});

test.serial(
  'behind the kill switch (enabled: false) subscriptions stream, ungoverned, and end when their socket goes',
  async (t) => {
    const a = await liveInstance(t, await sharedDatabase(t), { enabled: false });
    const dee = connect(a.ws, { user: 'dee', key: 'dee-1' });
    t.teardown(() => dee.dispose());
    await dee.connected;
    const beats = subscribe<{ beats: number }>(dee.client, 'subscription { beats }');
    await beats.waitFor(2);
    t.deepEqual(
      beats.results.slice(0, 2).map((r) => r.data?.beats),
      [0, 1],
    );
    t.is(a.http.controller.openConnections, 0, 'not governed: not in the registry');
    t.is(a.http.controller.openSubscriptions, 1);
    dee.terminate();
    await eventually(async () => (a.http.controller.openSubscriptions === 0 ? true : undefined), 2_000);
    t.pass();
  },
);

if (onPostgres) {
  // Two instances on one PostgreSQL; only the first one's link to it is frozen (no FIN, no RST).
  test.serial(
    'a frozen database link: the instance closes its governed sockets with 4503 within maxStaleness + 1 s, refuses new ones, and serves again once the store answers',
    async (t) => {
      const db = await ownDatabase(t);
      const proxy = await FaultProxy.to(db.url!);
      t.teardown(async () => {
        proxy.thaw();
        await proxy.close();
      });
      // syncInterval 200 ms: maxStaleness is its default, 2 s.
      const frozen = await liveInstance(t, proxy.urlFor(db.url!), { onStoreError: () => {} });
      const other = await liveInstance(t, db.url!);
      // Teardowns run last-registered first: the link thaws before the instances close.
      t.teardown(() => proxy.thaw());
      const session = await other.http.controller.openSession({ userId: 'kim', sessionKey: 'kim-1' });
      await other.http.controller.openSession({ userId: 'lee', sessionKey: 'lee-1' });
      const kim = connect(frozen.ws, { user: 'kim', key: 'kim-1' });
      t.teardown(() => kim.dispose());
      await kim.connected;
      const stream = subscribe(kim.client, SESSION_EVENTS);
      await eventually(async () => (frozen.http.controller.openSubscriptions === 1 ? true : undefined), 3_000);
      const anonymous = connect(frozen.ws, {});
      t.teardown(() => anonymous.dispose());
      await anonymous.connected;

      proxy.freeze();
      const frozenAt = performance.now();
      await other.http.controller.revoke(session.id, { reason: 'ADMIN_REVOKED' });
      const closed = await kim.closed;
      const took = closed.at - frozenAt;
      t.log(`closed ${Math.round(took)} ms after the link froze`);
      t.deepEqual([closed.code, closed.reason], [4503, 'SESSION_STORE_UNAVAILABLE']);
      t.true(took < 2_000 + 1_500, `within maxStaleness + ~1 s (${Math.round(took)} ms)`);
      await eventually(async () => (stream.done ? true : undefined), 1_000);
      t.is(frozen.http.controller.openConnections, 0);

      // A new signed-in connection is refused at once; an anonymous one is not governed.
      const refusedAt = performance.now();
      const lee = connect(frozen.ws, { user: 'lee', key: 'lee-1' });
      t.teardown(() => lee.dispose());
      const refused = await lee.closed;
      t.deepEqual([refused.code, refused.reason], [4503, 'SESSION_STORE_UNAVAILABLE']);
      t.true(refused.at - refusedAt < 2_000, `refused within ${Math.round(refused.at - refusedAt)} ms`);
      const stillAnonymous = await Promise.race([anonymous.closed.then(() => 'closed'), Promise.resolve('open')]);
      t.is(stillAnonymous, 'open');

      // The store answers again: signed-in connections are served, and the revocation holds.
      proxy.thaw();
      const back = await eventually(async () => {
        const c = connect(frozen.ws, { user: 'lee', key: 'lee-1' });
        t.teardown(() => c.dispose());
        return c.connected.then(
          () => c,
          () => undefined,
        );
      }, 10_000);
      t.is(frozen.http.controller.openConnections, 1);
      await back.dispose();
      const revoked = connect(frozen.ws, { user: 'kim', key: 'kim-1' });
      t.teardown(() => revoked.dispose());
      t.deepEqual(await revoked.closed.then((c) => [c.code, c.reason]), [4401, 'SESSION_REVOKED:ADMIN_REVOKED']);
    },
  );
}
