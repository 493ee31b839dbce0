/**
 * Every operation of the session API × {own, foreign, admin, anonymous}, through a real Apollo
 * server, for both ways a host builds its schema (type-graphql classes, schema-first map).
 */
import test from 'ava';
import type { RevokeEvent } from '../src/hooks.js';
import {
  type ApiServer,
  admit,
  list,
  newKey,
  REMOVE_LIMIT,
  REVOKE,
  REVOKE_OTHERS,
  REVOKE_USER,
  RULES,
  SCHEMA_STYLES,
  SET_LIMIT,
  type SessionView,
  STATS,
  startApiServer,
} from './helpers/api.js';
import { failure } from './helpers/server.js';

let users = 0;
/** Users of their own per test, so tests on one server run concurrently without seeing each other. */
function people(s: ApiServer) {
  users += 1;
  const n = users;
  const alice = newKey('alice');
  const alice2 = newKey('alice2');
  const bob = newKey('bob');
  const root = newKey('root');
  return {
    aliceId: `alice-${n}`,
    bobId: `bob-${n}`,
    rootId: `root-${n}`,
    alice: s.as(`alice-${n}`, alice),
    alice2: s.as(`alice-${n}`, alice2),
    bob: s.as(`bob-${n}`, bob),
    root: s.as(`root-${n}`, root, ['admin']),
    anonymous: s.as(),
  };
}

for (const style of SCHEMA_STYLES) {
  const revokeEvents: RevokeEvent[] = [];
  let server: ApiServer | undefined;
  const serverFor = async (t: { teardown(fn: () => unknown): void }) => {
    server ??= await startApiServer(t, style, { onRevoke: (event) => revokeEvents.push(event) });
    return server;
  };
  const teardowns: Array<() => unknown> = [];
  test.before(async () => {
    await serverFor({ teardown: (fn) => teardowns.unshift(fn) });
  });
  test.after.always(async () => {
    for (const fn of teardowns) await fn();
  });
  const s = () => server!;

  test(`${style}: activeSessions lists the caller's own sessions, newest first, marking the current one`, async (t) => {
    const p = people(s());
    const first = await admit(p.alice);
    const second = await admit(p.alice2);
    await admit(p.bob);
    const page = await list(p.alice);
    t.is(page.totalCount, 2);
    t.deepEqual(
      page.edges.map((e) => e.node.id),
      [second, first],
    );
    t.deepEqual(
      page.edges.map((e) => e.node.current),
      [false, true],
    );
    t.false(page.pageInfo.hasNextPage);
    t.is(page.pageInfo.endCursor, page.edges[1].cursor);
    const node = page.edges[1].node;
    t.is(node.userId, p.aliceId);
    t.is(node.status, 'ACTIVE');
    t.is(node.ipAddress, '127.0.0.1');
    t.is(node.revokedAt, null);
    // Default idle timeout 30 min: expiresAt = lastSeenAt + 30 min.
    t.is(Date.parse(node.expiresAt!) - Date.parse(node.lastSeenAt), 30 * 60_000);
    // Passing one's own id is the same as omitting it.
    t.deepEqual(
      (await list(p.alice, { userId: p.aliceId })).edges.map((e) => e.node.id),
      [second, first],
    );
  });

  test(`${style}: activeSessions of another user is FORBIDDEN for a user, allowed for an admin`, async (t) => {
    const p = people(s());
    const bobSession = await admit(p.bob);
    await admit(p.alice);
    const f = await failure(list(p.alice, { userId: p.bobId }));
    t.is(f.code, 'FORBIDDEN');
    t.is(f.status, 200);
    await admit(p.root);
    const page = await list(p.root, { userId: p.bobId });
    t.deepEqual(
      page.edges.map((e) => e.node.id),
      [bobSession],
    );
    t.false(page.edges[0].node.current);
    t.is(page.totalCount, 1);
    // An admin listing a user with no sessions gets an empty page, not an error.
    const none = await list(p.root, { userId: 'nobody-at-all' });
    t.deepEqual(none, { totalCount: 0, pageInfo: { hasNextPage: false, endCursor: null }, edges: [] });
  });

  test(`${style}: every operation is UNAUTHENTICATED (401) for an anonymous caller`, async (t) => {
    const p = people(s());
    const id = '00000000-0000-4000-8000-000000000000';
    const calls: Array<[string, Promise<unknown>]> = [
      ['activeSessions', list(p.anonymous)],
      ['sessionStats', p.anonymous.request(STATS)],
      ['sessionLimitRules', p.anonymous.request(RULES)],
      ['revokeSession', p.anonymous.request(REVOKE, { id })],
      ['revokeOtherSessions', p.anonymous.request(REVOKE_OTHERS)],
      ['revokeUserSessions', p.anonymous.request(REVOKE_USER, { userId: 'x' })],
      ['setSessionLimit', p.anonymous.request(SET_LIMIT, { subjectType: 'USER', subject: 'x', maxSessions: 1 })],
      ['removeSessionLimit', p.anonymous.request(REMOVE_LIMIT, { subjectType: 'USER', subject: 'x' })],
    ];
    for (const [name, call] of calls) {
      const f = await failure(call);
      t.is(`${name}: ${f.code} ${f.status}`, `${name}: UNAUTHENTICATED 401`);
    }
  });

  test(`${style}: a user revokes its own session (REVOKED, note kept); the key then fails SESSION_REVOKED`, async (t) => {
    const p = people(s());
    await admit(p.alice);
    const other = await admit(p.alice2);
    const { revokeSession } = await p.alice.request<{ revokeSession: SessionView }>(REVOKE, {
      id: other,
      reason: 'lost phone',
    });
    t.is(revokeSession.id, other);
    t.is(revokeSession.status, 'REVOKED');
    t.is(revokeSession.revokedReason, 'REVOKED');
    t.is(revokeSession.revokedNote, 'lost phone');
    t.truthy(revokeSession.revokedAt);
    t.is(revokeSession.expiresAt, null);
    t.false(revokeSession.current);
    const f = await failure(list(p.alice2));
    t.is(f.code, 'SESSION_REVOKED');
    t.is(f.extensions.reason, 'REVOKED');
    t.is((await list(p.alice)).totalCount, 1);
    const event = revokeEvents.find((e) => e.sessions.some((x) => x.id === other));
    t.is(event?.reason, 'REVOKED');
    t.is(event?.note, 'lost phone');
  });

  test(`${style}: revoking an already revoked session returns it unchanged`, async (t) => {
    const p = people(s());
    await admit(p.alice);
    const other = await admit(p.alice2);
    const first = (await p.alice.request<{ revokeSession: SessionView }>(REVOKE, { id: other, reason: 'first' }))
      .revokeSession;
    const again = (await p.alice.request<{ revokeSession: SessionView }>(REVOKE, { id: other, reason: 'second' }))
      .revokeSession;
    t.deepEqual(again, first);
    t.is(again.revokedNote, 'first');
    // An admin revoking it later does not rewrite it either.
    await admit(p.root);
    const byAdmin = (await p.root.request<{ revokeSession: SessionView }>(REVOKE, { id: other })).revokeSession;
    t.is(byAdmin.revokedReason, 'REVOKED');
    t.is(byAdmin.revokedAt, first.revokedAt);
  });

  test(`${style}: a user revoking its current session ends it`, async (t) => {
    const p = people(s());
    const own = await admit(p.alice);
    const { revokeSession } = await p.alice.request<{ revokeSession: SessionView }>(REVOKE, { id: own });
    t.is(revokeSession.status, 'REVOKED');
    t.true(revokeSession.current);
    t.is((await failure(list(p.alice))).code, 'SESSION_REVOKED');
  });

  test(`${style}: another user's session and an unknown id are both NOT_FOUND for a user, and nothing changes`, async (t) => {
    const p = people(s());
    const bobSession = await admit(p.bob);
    await admit(p.alice);
    const foreign = await failure(p.alice.request(REVOKE, { id: bobSession }));
    const unknown = await failure(p.alice.request(REVOKE, { id: '3f1c2b7a-0000-4000-8000-000000000001' }));
    t.is(foreign.code, 'NOT_FOUND');
    t.is(unknown.code, 'NOT_FOUND');
    t.is(foreign.status, 200);
    // No existence leak: the two answers are the same.
    t.is(foreign.message, unknown.message);
    t.deepEqual(foreign.extensions, unknown.extensions);
    t.is((await list(p.bob)).totalCount, 1);
  });

  test(`${style}: an admin revokes another user's session (ADMIN_REVOKED) and its own (REVOKED)`, async (t) => {
    const p = people(s());
    const bobSession = await admit(p.bob);
    const rootSession = await admit(p.root);
    const { revokeSession } = await p.root.request<{ revokeSession: SessionView }>(REVOKE, {
      id: bobSession,
      reason: 'policy',
    });
    t.is(revokeSession.userId, p.bobId);
    t.is(revokeSession.revokedReason, 'ADMIN_REVOKED');
    t.is(revokeSession.revokedNote, 'policy');
    const f = await failure(list(p.bob));
    t.is(f.code, 'SESSION_REVOKED');
    t.is(f.extensions.reason, 'ADMIN_REVOKED');
    const unknown = await failure(p.root.request(REVOKE, { id: '3f1c2b7a-0000-4000-8000-000000000002' }));
    t.is(unknown.code, 'NOT_FOUND');
    const own = (await p.root.request<{ revokeSession: SessionView }>(REVOKE, { id: rootSession })).revokeSession;
    t.is(own.revokedReason, 'REVOKED');
  });

  test(`${style}: revokeOtherSessions ends all of the caller's sessions but the current one, and no one else's`, async (t) => {
    const p = people(s());
    const keep = await admit(p.alice);
    await admit(p.alice2);
    await admit(s().as(p.aliceId, newKey('alice3')));
    await admit(p.bob);
    const { revokeOtherSessions } = await p.alice.request<{ revokeOtherSessions: number }>(REVOKE_OTHERS);
    t.is(revokeOtherSessions, 2);
    const page = await list(p.alice);
    t.deepEqual(
      page.edges.map((e) => e.node.id),
      [keep],
    );
    t.is((await failure(list(p.alice2))).extensions.reason, 'REVOKED');
    t.is((await list(p.bob)).totalCount, 1);
    // Nothing left to end.
    t.is((await p.alice.request<{ revokeOtherSessions: number }>(REVOKE_OTHERS)).revokeOtherSessions, 0);
    // An admin's call ends only the admin's own other sessions.
    await admit(p.root);
    await admit(s().as(p.rootId, newKey('root2'), ['admin']));
    t.is((await p.root.request<{ revokeOtherSessions: number }>(REVOKE_OTHERS)).revokeOtherSessions, 1);
    t.is((await list(p.bob)).totalCount, 1);
  });

  test(`${style}: revokeUserSessions is FORBIDDEN for a user, even on itself; an admin ends them all (ADMIN_REVOKED)`, async (t) => {
    const p = people(s());
    await admit(p.bob);
    await admit(s().as(p.bobId, newKey('bob2')));
    await admit(p.alice);
    t.is((await failure(p.alice.request(REVOKE_USER, { userId: p.bobId }))).code, 'FORBIDDEN');
    t.is((await failure(p.alice.request(REVOKE_USER, { userId: p.aliceId }))).code, 'FORBIDDEN');
    t.is((await list(p.bob)).totalCount, 2);
    const { revokeUserSessions } = await p.root.request<{ revokeUserSessions: number }>(REVOKE_USER, {
      userId: p.bobId,
      reason: 'offboarding',
    });
    t.is(revokeUserSessions, 2);
    const f = await failure(list(p.bob));
    t.is(f.extensions.reason, 'ADMIN_REVOKED');
    const event = revokeEvents.find((e) => e.sessions.some((x) => x.userId === p.bobId));
    t.is(event?.reason, 'ADMIN_REVOKED');
    t.is(event?.note, 'offboarding');
    t.is(event?.sessions.length, 2);
    // A user with no sessions: nothing to end.
    t.is(
      (await p.root.request<{ revokeUserSessions: number }>(REVOKE_USER, { userId: 'nobody' })).revokeUserSessions,
      0,
    );
    t.is((await list(p.alice)).totalCount, 1);
  });

  test(`${style}: sessionStats is FORBIDDEN for a user and counts active sessions for an admin`, async (t) => {
    // A server of its own: the other tests revoke sessions concurrently, and the counts here are exact.
    const own = await startApiServer(t, style, { app: { maxSessions: 50 }, user: { maxSessions: 5 } });
    const p = people(own);
    await admit(p.alice);
    await admit(p.alice2);
    await admit(p.bob);
    const bob2 = await admit(own.as(p.bobId, newKey('bob2')));
    t.is((await failure(p.alice.request(STATS))).code, 'FORBIDDEN');
    const stats = () => p.root.request<{ sessionStats: unknown }>(STATS).then((r) => r.sessionStats);
    t.deepEqual(await stats(), { activeSessions: 5, activeUsers: 3, appLimit: 50, defaultUserLimit: 5 });
    await p.root.request(REVOKE, { id: bob2 });
    t.deepEqual(await stats(), { activeSessions: 4, activeUsers: 3, appLimit: 50, defaultUserLimit: 5 });
    await p.root.request(REVOKE_USER, { userId: p.aliceId });
    t.deepEqual(await stats(), { activeSessions: 2, activeUsers: 2, appLimit: 50, defaultUserLimit: 5 });
  });

  test(`${style}: limit rules are FORBIDDEN to a user and managed by an admin`, async (t) => {
    const p = people(s());
    const subject = `group-${p.aliceId}`;
    t.is((await failure(p.alice.request(RULES))).code, 'FORBIDDEN');
    t.is(
      (await failure(p.alice.request(SET_LIMIT, { subjectType: 'USER', subject: p.aliceId, maxSessions: 10 }))).code,
      'FORBIDDEN',
    );
    t.is((await failure(p.alice.request(REMOVE_LIMIT, { subjectType: 'USER', subject: p.aliceId }))).code, 'FORBIDDEN');
    const set = await p.root.request<{ setSessionLimit: unknown }>(SET_LIMIT, {
      subjectType: 'GROUP',
      subject,
      maxSessions: 3,
    });
    t.deepEqual(set.setSessionLimit, { subjectType: 'GROUP', subject, maxSessions: 3 });
    // Setting again replaces; null means unlimited.
    const unlimited = await p.root.request<{ setSessionLimit: unknown }>(SET_LIMIT, { subjectType: 'GROUP', subject });
    t.deepEqual(unlimited.setSessionLimit, { subjectType: 'GROUP', subject, maxSessions: null });
    const rules = (await p.root.request<{ sessionLimitRules: Array<{ subject: string }> }>(RULES)).sessionLimitRules;
    t.deepEqual(
      rules.filter((r) => r.subject === subject),
      [{ subjectType: 'GROUP', subject, maxSessions: null }],
    );
    t.true(
      (await p.root.request<{ removeSessionLimit: boolean }>(REMOVE_LIMIT, { subjectType: 'GROUP', subject }))
        .removeSessionLimit,
    );
    t.false(
      (await p.root.request<{ removeSessionLimit: boolean }>(REMOVE_LIMIT, { subjectType: 'GROUP', subject }))
        .removeSessionLimit,
    );
    const after = (await p.root.request<{ sessionLimitRules: Array<{ subject: string }> }>(RULES)).sessionLimitRules;
    t.false(after.some((r) => r.subject === subject));
  });

  // After every test of this style: nothing any of them received carried a key or a digest.
  test.after(`${style}: no response carried a session key or its digest`, (t) => {
    t.true(s().recorder.bodies.length > 50);
    t.deepEqual(s().recorder.leaks(), []);
  });
}

test('without the plugin (enabled: false) the API still knows the caller and its session', async (t) => {
  const s = await startApiServer(t, 'type-graphql', { enabled: false });
  const key = newKey('carol');
  const opened = await s.controller.openSession({ userId: 'carol', sessionKey: key });
  await s.controller.openSession({ userId: 'carol', sessionKey: newKey('carol') });
  const carol = s.as('carol', key);
  const page = await list(carol);
  t.is(page.totalCount, 2);
  t.deepEqual(
    page.edges.filter((e) => e.node.current).map((e) => e.node.id),
    [opened.id],
  );
  t.is((await carol.request<{ revokeOtherSessions: number }>(REVOKE_OTHERS)).revokeOtherSessions, 1);
  t.is((await failure(s.as().request(STATS))).code, 'UNAUTHENTICATED');
  t.is((await failure(carol.request(STATS))).code, 'FORBIDDEN');
});
