import test from 'ava';
import type { SessionController } from '../src/controller.js';
import { hashSessionKey } from '../src/identity.js';
import { databaseKind } from './helpers/database.js';
import { attempt, fleetDatabases, rowOf, sql, startFleet, wait, whoami } from './helpers/fleet.js';
import { internalsOf } from './helpers/internals.js';
import type { RunningServer, TestContext } from './helpers/server.js';

const databases = fleetDatabases();
test.after.always(() => databases.close());

interface TouchWrite {
  at: number;
  phase: string;
  ids: string[];
}

/** Records every batch of last-seen touches the controller writes (one statement each), then writes it. */
function recordTouches(
  controller: SessionController<TestContext>,
  phase: () => string = () => 'running',
): TouchWrite[] {
  const writes: TouchWrite[] = [];
  const table = internalsOf(controller).store.sessions;
  const write = table.touch.bind(table);
  table.touch = async (entries) => {
    writes.push({ at: performance.now(), phase: phase(), ids: entries.map((e) => e.id) });
    return write(entries);
  };
  return writes;
}

const writesOf = (writes: TouchWrite[], id: string) => writes.filter((w) => w.ids.includes(id)).length;

test.serial(
  `steady use on one instance keeps a session valid on the others; an idle one expires within the documented precision (${databaseKind})`,
  async (t) => {
    const idleMs = 2_500;
    const touchMs = 300;
    const syncMs = 500;
    // The documented precision: a session expires after between idleTimeout − touchInterval − 1 s
    // and idleTimeout (+ one sync, for the clock estimate) of real inactivity.
    const lower = idleMs - touchMs - 1_000;
    const upper = idleMs + syncMs;
    const fleet = await startFleet(t, databases, { idleTimeout: idleMs, touchInterval: touchMs, syncInterval: syncMs });
    const [a, b, c] = fleet.instances;
    const sessions = Array.from({ length: 16 }, (_, i) => ({
      user: `idle-${i}`,
      key: `idle-${i}-key`,
      start: 0,
      end: 0,
      gone: false,
    }));
    type Session = (typeof sessions)[number];
    /**
     * One use. Whatever the machine's load, a use that comes less than `lower` after the previous
     * one must be served; a refusal after a longer pause is allowed (and the session is done).
     */
    const use = async (s: RunningServer, session: Session, where: string) => {
      const start = performance.now();
      const result = await attempt(s, session.user, session.key);
      const idle = performance.now() - session.start;
      if (session.start && idle < lower)
        t.is(result, 'ok', `${where}: refused after ${idle.toFixed(0)} ms without use`);
      else if (result !== 'ok') session.gone = true;
      session.start = start;
      session.end = performance.now();
    };

    // Admitted on A; B and C cache them as they are now.
    await Promise.all(
      sessions.map(async (s) => {
        for (const [i, instance] of [a, b, c].entries()) await use(instance, s, `warm-up on instance ${i}`);
      }),
    );
    const warmed = performance.now();

    // Used on A only, every ~100 ms, for longer than the idle timeout. Once B's and C's cached view
    // of them is older than the timeout, they must ask the store, where A's touches are.
    let checkedOthers = false;
    while (performance.now() - warmed < idleMs + 700) {
      await Promise.all(sessions.filter((s) => !s.gone).map((s) => use(a, s, 'steady use on A')));
      if (!checkedOthers && performance.now() - warmed > idleMs + 200) {
        checkedOthers = true;
        await Promise.all(
          sessions.filter((s) => !s.gone).flatMap((s) => [use(b, s, 'use on B'), use(c, s, 'use on C')]),
        );
      }
      // A user's pace: requests spread over the idle timeout, as the touch interval sees them.
      await wait(100);
    }
    t.true(checkedOthers);
    const live = sessions.filter((s) => !s.gone);
    t.true(
      live.length >= sessions.length / 2,
      `${sessions.length - live.length} sessions lost to pauses on a slow machine`,
    );

    // Then left alone. Each session is asked once, on B or C, at its own offset after its last use.
    const probes = await Promise.all(
      live.map(async (s, i) => {
        const offset = lower - 400 + (i * (upper - lower + 1_200)) / (live.length - 1);
        await wait(s.end + offset - performance.now());
        const start = performance.now();
        const result = await attempt(i % 2 ? b : c, s.user, s.key);
        return { s, result, earliest: start - s.end, latest: performance.now() - s.start };
      }),
    );
    for (const p of probes) {
      t.true(p.result === 'ok' || p.result === 'SESSION_EXPIRED 401 IDLE', p.result);
      if (p.latest < lower) t.is(p.result, 'ok', `expired after ${p.latest.toFixed(0)} ms idle (< ${lower})`);
      if (p.earliest > upper)
        t.is(p.result, 'SESSION_EXPIRED 401 IDLE', `still valid after ${p.earliest.toFixed(0)} ms idle (> ${upper})`);
    }
    t.true(
      probes.some((p) => p.result !== 'ok'),
      'the idle sessions expired',
    );
    const lastOk = Math.max(...probes.filter((p) => p.result === 'ok').map((p) => p.earliest));
    const firstExpired = Math.min(...probes.filter((p) => p.result !== 'ok').map((p) => p.latest));
    t.log(
      `${databaseKind}: idleTimeout ${idleMs} ms, touchInterval ${touchMs} ms: still valid after ${lastOk.toFixed(0)} ms idle, expired after ${firstExpired.toFixed(0)} ms idle`,
    );

    // An expired session stays expired everywhere.
    for (const p of probes.filter((p) => p.result !== 'ok')) {
      for (const s of [a, b, c]) t.is(await attempt(s, p.s.user, p.s.key), 'SESSION_EXPIRED 401 IDLE');
    }
  },
);

test.serial(
  `a busy session costs at most one touch per touchInterval, and one statement writes many sessions (${databaseKind})`,
  async (t) => {
    const touchMs = 300;
    // An instance whose sync poll is late (a busy machine) asks the store even for a cached session
    // (fail-closed freshness: past maxStaleness, 4 × syncInterval here): a longer syncInterval
    // keeps this test about touches.
    const fleet = await startFleet(t, databases, { idleTimeout: '1h', touchInterval: touchMs, syncInterval: '2s' });
    const [a, b, c] = fleet.instances;
    const writes = fleet.instances.map((s) => recordTouches(s.controller));
    const reads = fleet.instances.map((s) => {
      const table = internalsOf(s.controller).store.sessions;
      const find = table.findByKeyHash.bind(table);
      const calls = { n: 0 };
      table.findByKeyHash = (keyHash) => {
        calls.n++;
        return find(keyHash);
      };
      return calls;
    });

    // 200 requests of one session on A within about a second.
    const id = await whoami(a, 'busy', 'busy-key');
    const before = await rowOf(a.controller, 'busy-key');
    const readsBefore = reads[0].n;
    const started = performance.now();
    for (let burst = 0; burst < 20; burst++) {
      const results = await Promise.all(Array.from({ length: 10 }, () => attempt(a, 'busy', 'busy-key')));
      t.true(results.every((r) => r === 'ok'));
      // A user's pace: the bursts spread over about a second of touch intervals.
      await wait(50);
    }
    const elapsed = performance.now() - started;
    await a.controller.flush();
    t.is(reads[0].n - readsBefore, 0, 'a known session is served without reading the store');
    const allowed = Math.ceil(elapsed / touchMs) + 1;
    const touches = writesOf(writes[0], id);
    t.true(
      touches >= 1 && touches <= allowed,
      `${touches} touches for 200 requests in ${elapsed.toFixed(0)} ms (allowed ${allowed})`,
    );
    const after = await rowOf(a.controller, 'busy-key');
    t.true(
      new Date(after.last_seen_at).getTime() > new Date(before.last_seen_at).getTime(),
      'last_seen_at moved forward',
    );
    t.log(`${databaseKind}: 200 requests in ${elapsed.toFixed(0)} ms → ${touches} touch writes`);

    // The same spread over three instances: each writes at most once per interval.
    const spreadId = await whoami(a, 'spread', 'spread-key');
    const spreadStart = performance.now();
    for (let burst = 0; burst < 20; burst++) {
      const results = await Promise.all(
        Array.from({ length: 9 }, (_, i) => attempt(fleet.instances[i % 3], 'spread', 'spread-key')),
      );
      t.true(results.every((r) => r === 'ok'));
      // A user's pace: the bursts spread over about a second of touch intervals.
      await wait(50);
    }
    const spreadElapsed = performance.now() - spreadStart;
    await Promise.all(fleet.instances.map((s) => s.controller.flush()));
    for (const [i, w] of writes.entries()) {
      const n = writesOf(w, spreadId);
      t.true(
        n <= Math.ceil(spreadElapsed / touchMs) + 1,
        `instance ${i}: ${n} touches in ${spreadElapsed.toFixed(0)} ms`,
      );
    }

    // Forty sessions due for a touch, used at once on B: each flush writes all that are pending in
    // one statement, so the statements are counted in flushes, not in sessions.
    const many = Array.from({ length: 40 }, (_, i) => ({ user: `many-${i}`, key: `many-${i}-key` }));
    const ids = await Promise.all(many.map((s) => whoami(c, s.user, s.key)));
    // Real time past the touch interval: each instance judges it by its own clock and cached copy,
    // which an aged row does not reach (and a probe request would be a use).
    await wait(touchMs + 50);
    const burstStart = performance.now();
    const results = await Promise.all(many.map((s) => attempt(b, s.user, s.key)));
    const burst = performance.now() - burstStart;
    t.true(results.every((r) => r === 'ok'));
    // As above: every touch of the burst becomes due, by the instance's own clock.
    await wait(touchMs + 100);
    await b.controller.flush();
    const batches = writes[1].filter((w) => w.ids.some((x) => ids.includes(x)));
    const flushes = Math.ceil(burst / touchMs) + 1;
    t.true(
      batches.length >= 1 && batches.length <= flushes,
      `${batches.length} statements for a ${burst.toFixed(0)} ms burst`,
    );
    t.log(`${databaseKind}: 40 sessions touched in ${burst.toFixed(0)} ms → ${batches.length} statement(s)`);
    t.deepEqual([...new Set(batches.flatMap((w) => w.ids).filter((x) => ids.includes(x)))].sort(), [...ids].sort());
    const [{ fresh }] = await sql<{ fresh: number | string }>(
      a.controller,
      `select count(*) as fresh from gsc_session
      where user_id like 'many-%' and last_seen_at > created_at + (? * interval '1 millisecond')`,
      [touchMs],
    );
    t.is(Number(fresh), 40, 'every one of them was written');
  },
);

test.serial(`shutdown writes pending touches (${databaseKind})`, async (t) => {
  // A long touchInterval: touches are flushed every second, so one taken right after a flush
  // is still pending when the instance stops a moment later.
  const fleet = await startFleet(t, databases, { idleTimeout: '1h', touchInterval: '30s' }, 1);
  const [a] = fleet.instances;
  const dbNow = async () =>
    new Date((await sql<{ now: string }>(a.controller, 'select now() as now'))[0].now).getTime();
  /** A session last used a minute ago, so that its next use is due for a touch. */
  const agedSession = async (key: string) => {
    await whoami(a, key, key);
    await sql(a.controller, "update gsc_session set last_seen_at = now() - interval '1 minute' where key_hash = ?", [
      hashSessionKey(key),
    ]);
  };

  /**
   * On a fresh instance: waits for a periodic flush, then takes a touch and stops at once. On a
   * machine so slow that the next periodic flush came first, it tries again (at most 3 times).
   */
  const stopRightAfterUse = async (label: string, stop: (s: RunningServer) => Promise<void>) => {
    for (let attemptNo = 1; ; attemptNo++) {
      const [tickKey, key] = [`${label}-tick-${attemptNo}`, `${label}-${attemptNo}`];
      await agedSession(tickKey);
      await agedSession(key);
      let phase = 'running';
      const b = await fleet.add();
      const writes = recordTouches(b.controller, () => phase);
      const tickId = await whoami(b, tickKey, tickKey);
      const deadline = performance.now() + 3_000;
      while (!writesOf(writes, tickId) && performance.now() < deadline) await wait(5);
      t.is(writesOf(writes, tickId), 1, 'the periodic flush ran');
      const id = await whoami(b, key, key);
      phase = 'stopping';
      await stop(b);
      const phases = writes.filter((w) => w.ids.includes(id)).map((w) => w.phase);
      if (phases.length === 1 && phases[0] === 'running' && attemptNo < 3) continue;
      t.deepEqual(phases, ['stopping'], 'the touch was still pending when the instance stopped, and was written then');
      const lastSeen = new Date((await rowOf(a.controller, key)).last_seen_at).getTime();
      const now = await dbNow();
      t.true(now - lastSeen < 5_000, `last_seen_at is the use, not a minute ago (${now - lastSeen} ms before now)`);
      return;
    }
  };

  // Stopping the Apollo server flushes (the plugin's serverWillStop), before the controller closes.
  await stopRightAfterUse('server-stop', (b) => b.server.stop());
  // Closing the controller alone flushes too.
  await stopRightAfterUse('close', (b) => b.controller.close());
});
