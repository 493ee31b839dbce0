/**
 * A revoked key never comes back (issue 9 item 4, issue 13): when its row is pruned, a tombstone
 * of its digest refuses it until the key can no longer be valid (`Identity.expiresAt`, else
 * `tombstoneTtl` after the revocation).
 */
import test from 'ava';
import { internalsOf } from '../src/controller.js';
import { hashSessionKey } from '../src/identity.js';
import { databaseKind } from './helpers/database.js';
import { attempt, count, fleetDatabases, sql, startFleet, wait, whoami } from './helpers/fleet.js';

const databases = fleetDatabases();
test.after.always(() => databases.close());

const DAY = 24 * 3_600_000;

async function tombstone(
  controller: Parameters<typeof sql>[0],
  key: string,
): Promise<{ reason: string; expiresAt: Date } | undefined> {
  const [row] = await sql<{ reason: string; expires_at: Date | string }>(
    controller,
    'select reason, expires_at from gsc_tombstone where key_hash = ?',
    [hashSessionKey(key)],
  );
  return row && { reason: row.reason, expiresAt: new Date(row.expires_at) };
}

test.serial(
  `a logged-out key is refused after its row is pruned, and under EVICT_OLDEST it evicts nobody (${databaseKind})`,
  async (t) => {
    const options = { idleTimeout: '1h', retention: '1s', user: { maxSessions: 1, onLimit: 'EVICT_OLDEST' as const } };
    const fleet = await startFleet(t, databases, options, 1);
    const [a] = fleet.instances;
    const stolen = await whoami(a, 'eve', 'stolen-key');
    const revokedAt = Date.now();
    await a.controller.revoke(stolen, 'LOGOUT');
    const legitimate = await whoami(a, 'eve', 'new-key');

    await wait(1_200);
    const pruned = await a.controller.prune();
    t.true(pruned.sessions >= 1);
    t.is(await count(a.controller, 'key_hash = ?', [hashSessionKey('stolen-key')]), 0, 'the row is gone');
    const stone = await tombstone(a.controller, 'stolen-key');
    t.is(stone?.reason, 'LOGOUT');
    t.true(
      Math.abs(stone!.expiresAt.getTime() - (revokedAt + 30 * DAY)) < 60_000,
      'tombstoneTtl (30d) after the revocation',
    );

    // On this instance and on one that never saw the key: refused with the recorded reason.
    const fresh = await fleet.add(options);
    for (const s of [a, fresh]) t.is(await attempt(s, 'eve', 'stolen-key'), 'SESSION_REVOKED 401 LOGOUT');
    await t.throwsAsync(fresh.controller.openSession({ userId: 'eve', sessionKey: 'stolen-key' }), {
      message: /revoked/i,
    });
    t.is(await attempt(a, 'eve', 'new-key'), 'ok', 'the legitimate session was not evicted');
    t.is(await whoami(a, 'eve', 'new-key'), legitimate);
    t.is(await count(a.controller, "user_id = 'eve'"), 1, 'nothing was inserted');
  },
);

test.serial(`a tombstone lasts until the key's expiresAt, then the pruner deletes it (${databaseKind})`, async (t) => {
  const fleet = await startFleet(t, databases, { idleTimeout: '1h', retention: '1s' }, 1);
  const [a] = fleet.instances;
  const soon = Date.now() + 2_500;
  const later = new Date(Date.now() + 90 * DAY);
  const past = Date.now() + 900;
  const sessions = await Promise.all([
    a.controller.openSession({ userId: 'kim', sessionKey: 'key-soon', expiresAt: soon }),
    a.controller.openSession({ userId: 'kim', sessionKey: 'key-later', expiresAt: later }),
    a.controller.openSession({ userId: 'kim', sessionKey: 'key-past', expiresAt: past }),
    a.controller.openSession({ userId: 'kim', sessionKey: 'key-none' }),
  ]);
  await a.controller.revokeUser('kim', 'ADMIN_REVOKED');
  await wait(1_300);
  await a.controller.prune();
  t.is(await count(a.controller, "user_id = 'kim'"), 0);
  t.is((await tombstone(a.controller, 'key-soon'))?.expiresAt.getTime(), soon);
  t.is(
    (await tombstone(a.controller, 'key-later'))?.expiresAt.getTime(),
    later.getTime(),
    'later than tombstoneTtl: the key says',
  );
  t.is(await tombstone(a.controller, 'key-past'), undefined, 'a key no longer valid needs no tombstone');
  t.truthy(await tombstone(a.controller, 'key-none'));
  t.is(await attempt(a, 'kim', 'key-soon'), 'SESSION_REVOKED 401 ADMIN_REVOKED');

  await wait(soon - Date.now() + 200);
  await a.controller.prune();
  t.is(await tombstone(a.controller, 'key-soon'), undefined, 'deleted once its key expired');
  t.truthy(await tombstone(a.controller, 'key-later'));
  t.is(sessions.length, 4);
});

test.serial(
  `tombstoneTtl sets how long a key without expiresAt stays refused; an invalid expiresAt is refused (${databaseKind})`,
  async (t) => {
    const fleet = await startFleet(t, databases, { idleTimeout: '1h', retention: '1s', tombstoneTtl: '3s' }, 1);
    const [a] = fleet.instances;
    const id = await whoami(a, 'lou', 'lou-key');
    await a.controller.revoke(id);
    await wait(1_200);
    await a.controller.prune();
    t.truthy(await tombstone(a.controller, 'lou-key'));
    await wait(2_000);
    await a.controller.prune();
    t.is(await tombstone(a.controller, 'lou-key'), undefined);

    for (const expiresAt of ['tomorrow', Number.NaN, new Date('nope')]) {
      await t.throwsAsync(
        a.controller.openSession({ userId: 'lou', sessionKey: 'x', expiresAt: expiresAt as unknown as Date }),
        { message: /expiresAt/ },
      );
    }
    const stored = await a.controller.openSession({
      userId: 'lou',
      sessionKey: 'dated',
      expiresAt: new Date('2030-01-01T00:00:00Z'),
    });
    const [row] = await sql<{ key_expires_at: Date | string }>(
      a.controller,
      'select key_expires_at from gsc_session where id = ?',
      [stored.id],
    );
    t.is(new Date(row.key_expires_at).toISOString(), '2030-01-01T00:00:00.000Z');
    t.truthy(internalsOf(a.controller).store);
  },
);
