import test from 'ava';
import type { Duration, Identity } from '../src/index.js';
import { databaseKind } from './helpers/database.js';
import { attempt, count, fleetDatabases, startFleet, wait, type Fleet } from './helpers/fleet.js';
import type { RunningServer, startTestServer } from './helpers/server.js';

/*
 * Issue 9, item 4: a revoked key must never be admitted again, even after `retention` has pruned
 * its row. The promise (docs/contract.md §11 "A revoked key never comes back"): a digest-only
 * tombstone is kept until the key can no longer be valid, which the host says with `expiresAt`
 * on the identity (e.g. the token's `exp`), or else the `tombstoneTtl` option says.
 *
 * Names assumed until src/ has them: `Identity.expiresAt: Date` and the option `tombstoneTtl`
 * (a duration). The key comes back on a second instance, which never saw it in memory: that is
 * where the store alone decides (a restart, another server of the fleet, an LRU eviction).
 */

type IdentityWithExpiry = Identity;
type Options = Omit<Parameters<typeof startTestServer>[0], 'database'> & { tombstoneTtl?: Duration };

const databases = fleetDatabases();
test.after.always(() => databases.close());

/** The expiry the host's token carries, per session key; keys absent here carry none. */
function withExpiries(expiries: Map<string, Date>): Pick<Options, 'identify'> {
  return {
    identify: (ctx) => {
      if (!ctx.identity) return null;
      const expiresAt = expiries.get(ctx.identity.sessionKey);
      const identity: IdentityWithExpiry = expiresAt ? { ...ctx.identity, expiresAt } : ctx.identity;
      return identity;
    },
  };
}

const inAnHour = () => new Date(Date.now() + 60 * 60 * 1000);

/** Logs in through the login path (`openSession`), then logs out (`revoke(id, 'LOGOUT')`), as the README's host does. */
async function loginThenLogout(s: RunningServer, identity: IdentityWithExpiry): Promise<string> {
  const session = await s.controller.openSession(identity);
  const revoked = await s.controller.revoke(session.id, 'LOGOUT');
  if (revoked?.revokedReason !== 'LOGOUT') throw new Error('precondition: the logout did not revoke the session');
  return session.id;
}

/** Waits past a 1 s retention, then prunes: the revoked rows must be gone (that is the scenario). */
async function pruneRevoked(t: import('ava').ExecutionContext, fleet: Fleet, expected: number): Promise<void> {
  await wait(1_500);
  const result = await fleet.instances[0].controller.prune();
  t.true(
    result.sessions >= expected,
    `precondition: prune() deleted the ${expected} revoked session row(s); it reported ${JSON.stringify(result)}`,
  );
}

const live = (s: RunningServer, userId: string) => count(s.controller, 'user_id = ? and revoked_at is null', [userId]);

test.serial(
  `a logged-out key whose identity carries a future expiresAt is refused with SESSION_REVOKED after its row is pruned (${databaseKind})`,
  async (t) => {
    const expiries = new Map<string, Date>();
    const options: Options = { retention: '1s', idleTimeout: '1h', ...withExpiries(expiries) };
    const fleet = await startFleet(t, databases, options, 2);
    const [a, b] = fleet.instances;
    for (const key of ['exp-request', 'exp-login']) expiries.set(key, inAnHour());
    await loginThenLogout(a, { userId: 'alice', sessionKey: 'exp-request', expiresAt: expiries.get('exp-request') });
    await loginThenLogout(a, { userId: 'alice', sessionKey: 'exp-login', expiresAt: expiries.get('exp-login') });
    await pruneRevoked(t, fleet, 2);

    // A request replaying the logged-out token (implicit admission path).
    t.regex(
      await attempt(b, 'alice', 'exp-request'),
      /^SESSION_REVOKED 401\b/,
      'a request with the logged-out key, expiresAt still in the future, must be refused as revoked, not admitted as a new session',
    );
    // The login path with the same key (a replayed login response, a host that reuses a token id).
    const error = await t.throwsAsync(
      b.controller.openSession({
        userId: 'alice',
        sessionKey: 'exp-login',
        expiresAt: expiries.get('exp-login'),
      } as IdentityWithExpiry),
      undefined,
      'openSession with the logged-out key must throw, not admit it again',
    );
    t.like(
      error,
      { extensions: { code: 'SESSION_REVOKED' } } as object,
      'openSession must refuse with SESSION_REVOKED',
    );
    t.is(await live(b, 'alice'), 0, 'no session was admitted for the logged-out keys');
  },
);

test.serial(
  `without expiresAt, the tombstone is kept for the tombstoneTtl option: the key is refused after its row is pruned (${databaseKind})`,
  async (t) => {
    const options: Options = { retention: '1s', idleTimeout: '1h', tombstoneTtl: '1h' };
    const fleet = await startFleet(t, databases, options, 2);
    const [a, b] = fleet.instances;
    await loginThenLogout(a, { userId: 'bob', sessionKey: 'ttl-request' });
    await loginThenLogout(a, { userId: 'bob', sessionKey: 'ttl-login' });
    await pruneRevoked(t, fleet, 2);

    t.regex(
      await attempt(b, 'bob', 'ttl-request'),
      /^SESSION_REVOKED 401\b/,
      'a request with the logged-out key (no expiresAt, tombstoneTtl 1h) must be refused as revoked after pruning',
    );
    const error = await t.throwsAsync(b.controller.openSession({ userId: 'bob', sessionKey: 'ttl-login' }));
    t.like(
      error,
      { extensions: { code: 'SESSION_REVOKED' } } as object,
      'openSession must refuse with SESSION_REVOKED',
    );
    t.is(await live(b, 'bob'), 0, 'no session was admitted for the logged-out keys');
  },
);

test.serial(
  `under EVICT_OLDEST a pruned logged-out key neither comes back nor evicts the user's legitimate session (${databaseKind})`,
  async (t) => {
    const expiries = new Map<string, Date>();
    const options: Options = {
      retention: '1s',
      idleTimeout: '1h',
      user: { maxSessions: 1, onLimit: 'EVICT_OLDEST' },
      ...withExpiries(expiries),
    };
    const fleet = await startFleet(t, databases, options, 2);
    const [a, b] = fleet.instances;
    expiries.set('evict-old', inAnHour());
    expiries.set('evict-new', inAnHour());
    await loginThenLogout(a, { userId: 'carol', sessionKey: 'evict-old', expiresAt: expiries.get('evict-old') });
    await pruneRevoked(t, fleet, 1);
    // carol signs in again on a new device: her one legitimate session.
    const legit = await a.controller.openSession({
      userId: 'carol',
      sessionKey: 'evict-new',
      expiresAt: expiries.get('evict-new'),
    } as IdentityWithExpiry);
    t.is(await attempt(a, 'carol', 'evict-new'), 'ok');

    // Someone replays the old, logged-out token on the other instance.
    const replay = await attempt(b, 'carol', 'evict-old');
    await wait(1_200); // past the sync interval: an eviction made on b has reached a
    const legitOnA = await attempt(a, 'carol', 'evict-new');
    const legitOnB = await attempt(b, 'carol', 'evict-new');
    t.log({ replay, legitOnA, legitOnB });
    t.regex(
      replay,
      /^SESSION_REVOKED 401\b/,
      'the logged-out key must be refused as revoked, not admitted (which under EVICT_OLDEST evicts the legitimate session)',
    );
    t.is(legitOnA, 'ok', 'the legitimate session must not have been evicted');
    t.is(legitOnB, 'ok', 'the legitimate session must not have been evicted (other instance)');
    t.is(await live(a, 'carol'), 1, 'carol has exactly her one legitimate session');
    t.is(
      await count(a.controller, 'id = ? and revoked_at is null', [legit.id]),
      1,
      'and it is the one she signed in with',
    );
  },
);
