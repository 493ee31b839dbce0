/**
 * Stored limit rules set through the API change the user-level cap at the next admission:
 * raising and lowering it, per user and per group, and on every instance sharing the database.
 * Admission here is the implicit kind: a request that carries a new session key.
 */
import test from 'ava';
import type { GraphQLClient } from 'graphql-request';
import { type ApiServer, newKey, REMOVE_LIMIT, RULES, SET_LIMIT, startApiServer } from './helpers/api.js';
import { sharedDatabase } from './helpers/core.js';
import { failure } from './helpers/server.js';

const WHOAMI = '{ activeSessions(first: 1) { totalCount } }';

/** A request with a fresh key: `ok`, or the refusal's code and limit. */
async function tryNewSession(s: ApiServer, userId: string, groups: string[] = []): Promise<string> {
  try {
    await s.as(userId, newKey(userId), groups).request(WHOAMI);
    return 'ok';
  } catch (error) {
    const f = await failure(Promise.reject(error));
    return `${f.code} ${f.status} limit=${String(f.extensions.limit)}`;
  }
}

function setLimit(admin: GraphQLClient, subjectType: 'USER' | 'GROUP', subject: string, maxSessions: number | null) {
  return admin.request(SET_LIMIT, { subjectType, subject, maxSessions });
}

const REFUSED = (limit: number) => `SESSION_LIMIT_EXCEEDED 403 limit=${limit}`;

test('a per-user rule raises, lowers, lifts and, removed, restores the default cap', async (t) => {
  const s = await startApiServer(t, 'type-graphql', { user: { maxSessions: 2 } });
  const root = s.as('root', newKey('root'), ['admin']);
  const first = s.as('alice', newKey('alice'));
  await first.request(WHOAMI);
  t.is(await tryNewSession(s, 'alice'), 'ok');
  t.is(await tryNewSession(s, 'alice'), REFUSED(2));

  await setLimit(root, 'USER', 'alice', 3);
  t.is(await tryNewSession(s, 'alice'), 'ok');
  t.is(await tryNewSession(s, 'alice'), REFUSED(3));

  await setLimit(root, 'USER', 'alice', 1);
  t.is(await tryNewSession(s, 'alice'), REFUSED(1));
  // Lowering refuses new sessions; the ones already admitted go on.
  t.is((await first.request<{ activeSessions: { totalCount: number } }>(WHOAMI)).activeSessions.totalCount, 3);

  await setLimit(root, 'USER', 'alice', null);
  t.is(await tryNewSession(s, 'alice'), 'ok');
  t.is(await tryNewSession(s, 'alice'), 'ok');

  await root.request(REMOVE_LIMIT, { subjectType: 'USER', subject: 'alice' });
  t.is(await tryNewSession(s, 'alice'), REFUSED(2));
  // Other users were never concerned.
  t.is(await tryNewSession(s, 'bob'), 'ok');
  t.is(await tryNewSession(s, 'bob'), 'ok');
  t.is(await tryNewSession(s, 'bob'), REFUSED(2));
});

test('a per-group rule applies to members only; the most permissive group wins; a user rule wins over groups', async (t) => {
  const s = await startApiServer(t, 'type-graphql', { user: { maxSessions: 1 } });
  const root = s.as('root', newKey('root'), ['admin']);
  await setLimit(root, 'GROUP', 'team', 3);
  for (let i = 0; i < 3; i++) t.is(await tryNewSession(s, 'bob', ['team']), 'ok');
  t.is(await tryNewSession(s, 'bob', ['team']), REFUSED(3));
  // Not a member: the default applies.
  t.is(await tryNewSession(s, 'carol', ['other']), 'ok');
  t.is(await tryNewSession(s, 'carol', ['other']), REFUSED(1));

  // Lowering the group's rule.
  await setLimit(root, 'GROUP', 'team', 2);
  t.is(await tryNewSession(s, 'dave', ['team']), 'ok');
  t.is(await tryNewSession(s, 'dave', ['team']), 'ok');
  t.is(await tryNewSession(s, 'dave', ['team']), REFUSED(2));

  // Two groups: the most permissive rule.
  await setLimit(root, 'GROUP', 'ops', 5);
  t.is(await tryNewSession(s, 'bob', ['team', 'ops']), 'ok');
  t.is(await tryNewSession(s, 'bob', ['team', 'ops']), 'ok');
  t.is(await tryNewSession(s, 'bob', ['team', 'ops']), REFUSED(5));
  // An unlimited group rule lifts the cap for its members.
  await setLimit(root, 'GROUP', 'ops', null);
  t.is(await tryNewSession(s, 'bob', ['team', 'ops']), 'ok');

  // A user rule wins over every group rule, lower or higher.
  await setLimit(root, 'USER', 'bob', 6);
  t.is(await tryNewSession(s, 'bob', ['team', 'ops']), REFUSED(6));
  await setLimit(root, 'USER', 'dave', 4);
  t.is(await tryNewSession(s, 'dave', ['team']), 'ok');
  t.is(await tryNewSession(s, 'dave', ['team']), 'ok');
  t.is(await tryNewSession(s, 'dave', ['team']), REFUSED(4));

  const rules = (await root.request<{ sessionLimitRules: unknown[] }>(RULES)).sessionLimitRules;
  t.deepEqual(rules, [
    { subjectType: 'USER', subject: 'bob', maxSessions: 6 },
    { subjectType: 'USER', subject: 'dave', maxSessions: 4 },
    { subjectType: 'GROUP', subject: 'ops', maxSessions: null },
    { subjectType: 'GROUP', subject: 'team', maxSessions: 2 },
  ]);
});

test('a rule set on one instance limits the next admission on another instance', async (t) => {
  const database = await sharedDatabase(t);
  const a = await startApiServer(t, 'type-graphql', { database, user: { maxSessions: 1 } });
  const b = await startApiServer(t, 'schema-first', { database, user: { maxSessions: 1 } });
  const rootKey = newKey('root');
  const root = a.as('root', rootKey, ['admin']);
  t.is(await tryNewSession(b, 'erin'), 'ok');
  t.is(await tryNewSession(b, 'erin'), REFUSED(1));
  await setLimit(root, 'USER', 'erin', 2);
  t.is(await tryNewSession(b, 'erin'), 'ok');
  t.is(await tryNewSession(b, 'erin'), REFUSED(2));
  await setLimit(root, 'GROUP', 'night-shift', 3);
  await setLimit(root, 'USER', 'erin', 0);
  t.is(await tryNewSession(b, 'erin', ['night-shift']), REFUSED(0));
  await root.request(REMOVE_LIMIT, { subjectType: 'USER', subject: 'erin' });
  t.is(await tryNewSession(b, 'erin', ['night-shift']), 'ok');
  t.is(await tryNewSession(b, 'erin', ['night-shift']), REFUSED(3));
  // And the other way round, with the admin's same session on the other instance.
  const rootB = b.as('root', rootKey, ['admin']);
  await setLimit(rootB, 'USER', 'frank', 0);
  t.is(await tryNewSession(a, 'frank'), REFUSED(0));
});
