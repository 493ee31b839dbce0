/**
 * Bad arguments get BAD_USER_INPUT naming the argument, and no input at all makes the server
 * answer 5xx. The caller is an admin wherever authorization could otherwise answer first.
 */
import test from 'ava';
import { encodeCursor } from '../src/api/cursor.js';
import { admit, list, newKey, REMOVE_LIMIT, REVOKE, REVOKE_USER, SET_LIMIT, useApiServer } from './helpers/api.js';
import { failure } from './helpers/server.js';

const api = useApiServer(test, 'type-graphql');

let admins = 0;
/** An admin of its own: tests run concurrently, and some count the caller's sessions. */
const admin = () => api().as(`root-${++admins}`, newKey('root'), ['admin']);
const user = () => api().as('alice', newKey('alice'));

const badInput = test.macro(async (t, call: () => Promise<unknown>, argument: string) => {
  const f = await failure(call());
  t.is(f.code, 'BAD_USER_INPUT', f.message);
  t.is(f.status, 200);
  t.is(f.extensions.argument, argument);
  t.true(f.message.includes(`"${argument}"`), f.message);
});

const validCursorShape = encodeCursor({
  createdAt: '2026-01-01T00:00:00.000000Z',
  id: '00000000-0000-4000-8000-000000000000',
});
const tooLong = (n: number) => 'x'.repeat(n);

test('revokeSession: a malformed id', badInput, () => admin().request(REVOKE, { id: 'not-a-uuid' }), 'id');
test(
  'revokeSession: an id with a trailing character',
  badInput,
  () => admin().request(REVOKE, { id: '00000000-0000-4000-8000-0000000000001' }),
  'id',
);
test('revokeSession: an empty id', badInput, () => admin().request(REVOKE, { id: '' }), 'id');
test('revokeSession: a SQL-looking id', badInput, () => admin().request(REVOKE, { id: "' or 1=1 --" }), 'id');
test(
  'revokeSession: a reason over 200 characters',
  badInput,
  () => admin().request(REVOKE, { id: '00000000-0000-4000-8000-000000000000', reason: tooLong(201) }),
  'reason',
);
test(
  'revokeSession: a reason with a NUL character',
  badInput,
  () => admin().request(REVOKE, { id: '00000000-0000-4000-8000-000000000000', reason: 'a\u0000b' }),
  'reason',
);
test('revokeSession: a malformed id, asked by a user', badInput, () => user().request(REVOKE, { id: 'nope' }), 'id');
test('activeSessions: first = 0', badInput, () => list(admin(), { first: 0 }), 'first');
test('activeSessions: first = 101', badInput, () => list(admin(), { first: 101 }), 'first');
test('activeSessions: first = -1', badInput, () => list(admin(), { first: -1 }), 'first');
test('activeSessions: first out of range for a user too', badInput, () => list(user(), { first: 1000 }), 'first');
test('activeSessions: an after that is no cursor', badInput, () => list(admin(), { after: 'garbage!' }), 'after');
test('activeSessions: an empty after', badInput, () => list(admin(), { after: '' }), 'after');
test(
  'activeSessions: base64 of something else',
  badInput,
  () => list(admin(), { after: Buffer.from('hello world').toString('base64url') }),
  'after',
);
test(
  'activeSessions: a cursor with a bad date',
  badInput,
  () =>
    list(admin(), {
      after: Buffer.from('v1|2026-02-30T00:00:00.000000Z|00000000-0000-4000-8000-000000000000').toString('base64url'),
    }),
  'after',
);
test(
  'activeSessions: a cursor with year 0',
  badInput,
  () =>
    list(admin(), {
      after: Buffer.from('v1|0000-01-01T00:00:00.000000Z|00000000-0000-4000-8000-000000000000').toString('base64url'),
    }),
  'after',
);
test(
  'activeSessions: a cursor with a bad id',
  badInput,
  () => list(admin(), { after: Buffer.from('v1|2026-01-01T00:00:00.000000Z|zzzz').toString('base64url') }),
  'after',
);
test(
  'activeSessions: a cursor with padding',
  badInput,
  () => list(admin(), { after: `${validCursorShape}=` }),
  'after',
);
test(
  'activeSessions: a cursor with a flipped character',
  badInput,
  () => list(admin(), { after: `${validCursorShape.slice(0, -1)}${validCursorShape.endsWith('A') ? 'B' : 'A'}` }),
  'after',
);
test('activeSessions: an empty userId', badInput, () => list(admin(), { userId: '' }), 'userId');
test('activeSessions: a userId over 255 characters', badInput, () => list(admin(), { userId: tooLong(256) }), 'userId');
test('revokeUserSessions: an empty userId', badInput, () => admin().request(REVOKE_USER, { userId: '' }), 'userId');
test(
  'revokeUserSessions: a reason over 200 characters',
  badInput,
  () => admin().request(REVOKE_USER, { userId: 'bob', reason: tooLong(201) }),
  'reason',
);
test(
  'setSessionLimit: a negative maxSessions',
  badInput,
  () => admin().request(SET_LIMIT, { subjectType: 'USER', subject: 'bob', maxSessions: -1 }),
  'maxSessions',
);
test(
  'setSessionLimit: an empty subject',
  badInput,
  () => admin().request(SET_LIMIT, { subjectType: 'GROUP', subject: '', maxSessions: 1 }),
  'subject',
);
test(
  'setSessionLimit: a subject over 255 characters',
  badInput,
  () => admin().request(SET_LIMIT, { subjectType: 'GROUP', subject: tooLong(256), maxSessions: 1 }),
  'subject',
);
test(
  'setSessionLimit: a subject with a NUL character',
  badInput,
  () => admin().request(SET_LIMIT, { subjectType: 'GROUP', subject: 'a\u0000', maxSessions: 1 }),
  'subject',
);
test(
  'setSessionLimit: a subject with a lone surrogate',
  badInput,
  () => admin().request(SET_LIMIT, { subjectType: 'GROUP', subject: 'a\ud800', maxSessions: 1 }),
  'subject',
);
test(
  'removeSessionLimit: an empty subject',
  badInput,
  () => admin().request(REMOVE_LIMIT, { subjectType: 'USER', subject: '' }),
  'subject',
);
test(
  'removeSessionLimit: a subject over 255 characters',
  badInput,
  () => admin().request(REMOVE_LIMIT, { subjectType: 'USER', subject: tooLong(256) }),
  'subject',
);

test('limits are inclusive: first 1 and 100, a 200-character reason, a 255-character subject, maxSessions 0', async (t) => {
  const root = admin();
  await admit(root);
  t.is((await list(root, { first: 1 })).edges.length, 1);
  t.is((await list(root, { first: 100 })).edges.length, 1);
  const bob = api().as('bob-limits', newKey('bob'));
  const id = await admit(bob);
  const revoked = await root.request<{ revokeSession: { revokedNote: string } }>(REVOKE, { id, reason: tooLong(200) });
  t.is(revoked.revokeSession.revokedNote, tooLong(200));
  const subject = tooLong(255);
  const rule = await root.request<{ setSessionLimit: { subject: string; maxSessions: number } }>(SET_LIMIT, {
    subjectType: 'GROUP',
    subject,
    maxSessions: 0,
  });
  t.deepEqual(rule.setSessionLimit, { subjectType: 'GROUP', subject, maxSessions: 0 });
  t.true(
    (await root.request<{ removeSessionLimit: boolean }>(REMOVE_LIMIT, { subjectType: 'GROUP', subject }))
      .removeSessionLimit,
  );
  // Unicode is fine in notes and subjects, counted as JavaScript counts.
  const note = 'perdu à la gare 🚉';
  const id2 = await admit(api().as('bob-limits', newKey('bob')));
  t.is(
    (await root.request<{ revokeSession: { revokedNote: string } }>(REVOKE, { id: id2, reason: note })).revokeSession
      .revokedNote,
    note,
  );
});

test('an explicit null first means the default page size', async (t) => {
  const root = admin();
  await admit(root);
  t.is(
    (
      await root.request<{ activeSessions: { totalCount: number } }>(
        'query($f: Int) { activeSessions(first: $f) { totalCount } }',
        { f: null },
      )
    ).activeSessions.totalCount,
    1,
  );
});

test('ill-typed variables and literals are refused by GraphQL with a 400, never a 5xx', async (t) => {
  const root = admin();
  const cases: Array<[string, Record<string, unknown>?]> = [
    ['query($f: Int) { activeSessions(first: $f) { totalCount } }', { f: 'ten' }],
    ['query($f: Int) { activeSessions(first: $f) { totalCount } }', { f: 2 ** 40 }],
    ['query($f: Int) { activeSessions(first: $f) { totalCount } }', { f: 1.5 }],
    ['{ activeSessions(first: 99999999999) { totalCount } }'],
    ['mutation { setSessionLimit(subjectType: TEAM, subject: "x") { subject } }'],
    ['mutation($t: LimitSubject!) { setSessionLimit(subjectType: $t, subject: "x") { subject } }', { t: 'TEAM' }],
    ['mutation { revokeSession { id } }'],
    ['mutation($id: ID!) { revokeSession(id: $id) { id } }', { id: null }],
    ['mutation($id: ID!) { revokeSession(id: $id) { id } }', { id: { nested: true } }],
    ['mutation($id: ID!) { revokeSession(id: $id) { id } }', { id: ['a'] }],
    ['query($u: ID) { activeSessions(userId: $u) { totalCount } }', { u: true }],
  ];
  for (const [query, variables] of cases) {
    const f = await failure(root.request(query, variables));
    t.true(f.status === 400 || f.status === 200, `${query} ${JSON.stringify(variables)} -> ${f.status} ${f.code}`);
    t.true(['BAD_USER_INPUT', 'GRAPHQL_VALIDATION_FAILED'].includes(f.code), `${query} -> ${f.code}`);
  }
});

test('a battery of hostile strings in every argument never gets a 5xx', async (t) => {
  const root = admin();
  await admit(root);
  const hostile = [
    '',
    ' ',
    "'; drop table gsc_session; --",
    '?',
    '??',
    '$1',
    '\\',
    '%',
    '\u0000',
    '\ud800',
    '\udfff',
    'é'.repeat(300),
    '🚀'.repeat(150),
    'x'.repeat(10_000),
    '00000000-0000-0000-0000-000000000000',
    'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF',
    '{00000000-0000-4000-8000-000000000000}',
    '00000000000040008000000000000000',
    'v1|2026-01-01T00:00:00.000000Z|00000000-0000-4000-8000-000000000000',
    Buffer.from('v1|9999-12-31T23:59:59.999999Z|00000000-0000-4000-8000-000000000000').toString('base64url'),
    Buffer.from('v1|1970-01-01T00:00:00.000000Z|00000000-0000-4000-8000-000000000000').toString('base64url'),
  ];
  const statuses = new Map<string, number>();
  const record = async (label: string, call: Promise<unknown>) => {
    try {
      await call;
      statuses.set(label, 200);
    } catch (error) {
      const status = (error as { response?: { status: number } }).response?.status;
      if (status === undefined) throw error;
      statuses.set(label, status);
    }
  };
  for (const [i, value] of hostile.entries()) {
    await record(`revokeSession.id#${i}`, root.request(REVOKE, { id: value }));
    await record(
      `revokeSession.reason#${i}`,
      root.request(REVOKE, { id: '00000000-0000-4000-8000-000000000000', reason: value }),
    );
    await record(`activeSessions.userId#${i}`, list(root, { userId: value }));
    await record(`activeSessions.after#${i}`, list(root, { after: value }));
    await record(`revokeUserSessions.userId#${i}`, root.request(REVOKE_USER, { userId: value, reason: 'x' }));
    await record(`revokeUserSessions.reason#${i}`, root.request(REVOKE_USER, { userId: `nobody-${i}`, reason: value }));
    await record(
      `setSessionLimit.subject#${i}`,
      root.request(SET_LIMIT, { subjectType: 'GROUP', subject: value, maxSessions: 1 }),
    );
    await record(
      `removeSessionLimit.subject#${i}`,
      root.request(REMOVE_LIMIT, { subjectType: 'GROUP', subject: value }),
    );
  }
  for (const first of [-(2 ** 31), -1, 0, 1, 100, 101, 2 ** 31 - 1])
    await record(`first=${first}`, list(root, { first }));
  for (const maxSessions of [-(2 ** 31), -1, 0, 2 ** 31 - 1]) {
    await record(
      `maxSessions=${maxSessions}`,
      root.request(SET_LIMIT, { subjectType: 'USER', subject: 'u', maxSessions }),
    );
  }
  const serverErrors = [...statuses].filter(([, status]) => status >= 500);
  t.deepEqual(serverErrors, []);
  // And the server still serves.
  t.is((await list(root)).totalCount, 1);
});

test('semicolons and quotes in subjects and user ids are plain text', async (t) => {
  const root = admin();
  const subject = 'ops; team\'s "core" -- ?';
  const rule = await root.request<{ setSessionLimit: unknown }>(SET_LIMIT, {
    subjectType: 'GROUP',
    subject,
    maxSessions: 2,
  });
  t.deepEqual(rule.setSessionLimit, { subjectType: 'GROUP', subject, maxSessions: 2 });
  t.true(
    (await root.request<{ removeSessionLimit: boolean }>(REMOVE_LIMIT, { subjectType: 'GROUP', subject }))
      .removeSessionLimit,
  );
  const page = await list(root, { userId: "a; b' --" });
  t.is(page.totalCount, 0);
});

// Values are bound, never spliced into the SQL text: a ";" in a note once switched the embedded
// driver into multi-statement mode and changed the result's shape.
test('a revocation note with a semicolon is kept as given', async (t) => {
  const root = admin();
  const bob = api().as(`bob-semicolon-${admins}`, newKey('bob'));
  const id = await admit(bob);
  const { revokeSession } = await root.request<{ revokeSession: { id: string; revokedNote: string } }>(REVOKE, {
    id,
    reason: 'lost phone; reported',
  });
  t.is(revokeSession.id, id);
  t.is(revokeSession.revokedNote, 'lost phone; reported');
});

test('revokeUserSessions with a semicolon in the note counts what it revoked', async (t) => {
  const root = admin();
  const { revokeUserSessions } = await root.request<{ revokeUserSessions: number }>(REVOKE_USER, {
    userId: `nobody-semicolon-${admins}`,
    reason: 'a; b',
  });
  t.is(revokeUserSessions, 0);
});
