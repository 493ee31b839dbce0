import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { makeExecutableSchema } from '@graphql-tools/schema';
import test from 'ava';
import { GraphQLClient } from 'graphql-request';
import { SessionController } from '../src/controller.js';
import type { AdmitEvent, RejectEvent, RevokeEvent } from '../src/hooks.js';
import { hashSessionKey } from '../src/identity.js';
import { currentSession, setRequestSession } from '../src/request-session.js';
import { countLive, countRows, ownDatabase, query, serve, serveAlone, sharedDatabase } from './helpers/core.js';
import { onPostgres } from './helpers/database.js';
import { failure, identityFromHeaders, plainTypeDefs, type TestContext } from './helpers/server.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface Whoami {
  whoami: string | null;
}

test('an unknown key is admitted on its first request; the same key keeps its session', async (t) => {
  // On the embedded run, `database` is omitted: the default, an in-memory PGlite the controller owns.
  const s = onPostgres ? await serveAlone(t, {}) : await serve(t, {});
  const first = await s.client('alice', 'alice-key-1').request<Whoami>('{ whoami }');
  const [userId, sessionId] = first.whoami!.split(':');
  t.is(userId, 'alice');
  t.regex(sessionId, UUID);

  for (let i = 0; i < 3; i++) {
    t.deepEqual(await s.client('alice', 'alice-key-1').request<Whoami>('{ whoami }'), first);
  }
  const rows = await query<{ id: string; user_id: string; key_hash: string; ip_address: string; revoked_at: unknown }>(
    s.controller,
    'select id, user_id, key_hash, ip_address, revoked_at from gsc_session',
  );
  t.is(rows.length, 1);
  t.like(rows[0], { id: sessionId, user_id: 'alice', ip_address: '127.0.0.1', revoked_at: null });
  // Only the digest is stored, never the key.
  t.is(rows[0].key_hash, hashSessionKey('alice-key-1'));
  const everything = JSON.stringify(await query(s.controller, 'select * from gsc_session'));
  t.false(everything.includes('alice-key-1'));

  const second = await s.client('alice', 'alice-key-2').request<Whoami>('{ whoami }');
  t.not(second.whoami, first.whoami, 'another key of the same user is another session');
  t.is(await countRows(s.controller), 2);
});

test('resolvers read the current session without anything added to the host context', async (t) => {
  let seen: { keys: string[]; copy: object; viaFunction: unknown } | undefined;
  const s = await serveAlone(t, {}, (_controller) =>
    makeExecutableSchema({
      typeDefs: plainTypeDefs,
      resolvers: {
        Query: {
          hello: () => 'world',
          whoami: (_: unknown, __: unknown, ctx: TestContext) => {
            seen = { keys: Object.keys(ctx), copy: { ...ctx }, viaFunction: currentSession(ctx) };
            return 'x';
          },
        },
      },
    }),
  );
  await s.client('alice', 'k1').request('{ whoami }');
  const [row] = await query<{ id: string }>(s.controller, "select id from gsc_session where user_id = 'alice'");
  t.deepEqual(seen!.keys, ['identity'], 'the host context is left exactly as the host built it');
  t.deepEqual(Object.keys({ ...seen!.copy }), ['identity'], 'a copy of it carries nothing more either');
  t.like(seen!.viaFunction, { id: row.id, userId: 'alice' });
  t.false(JSON.stringify(seen!.viaFunction).includes('k1'), 'the current session does not expose the key');

  await s.client().request('{ whoami }');
  t.is(seen!.viaFunction, null, 'an anonymous request has no session');
});

// Apollo hands resolvers a copy of an HTTP request's context, but graphql-ws passes the host's
// own object, which a host may have frozen.
test('a context the host froze works the same: currentSession finds the session', (t) => {
  const contextValue = Object.freeze({ identity: null });
  const identity = { userId: 'frieda', sessionKey: 'f1' };
  const session = { id: 'a6f1c4de-0000-4000-8000-000000000001', userId: 'frieda' } as never;
  setRequestSession(contextValue, { identity, session, leases: undefined as never });
  t.like(currentSession(contextValue), { id: 'a6f1c4de-0000-4000-8000-000000000001', userId: 'frieda' });
  t.deepEqual(Object.getOwnPropertySymbols(contextValue), [], 'the frozen context is not touched');
});

test('the user cap refuses a new session with SESSION_LIMIT_EXCEEDED 403 (level USER, limit) and stores nothing', async (t) => {
  const s = await serveAlone(t, { user: { maxSessions: 2 } });
  await s.client('alice', 'a1').request('{ hello }');
  await s.client('alice', 'a2').request('{ hello }');
  const refused = await failure(s.client('alice', 'a3').request('{ hello }'));
  t.like(refused, { code: 'SESSION_LIMIT_EXCEEDED', status: 403, extensions: { level: 'USER', limit: 2 } });
  t.false('http' in refused.extensions, 'the http extension is for the status only');
  t.is(await countRows(s.controller, "user_id = 'alice'"), 2);
  t.is(await countRows(s.controller, 'key_hash = ?', [hashSessionKey('a3')]), 0);
  // The refusal is not remembered: the admitted sessions go on, and other users are not affected.
  t.is(
    await s
      .client('alice', 'a1')
      .request<{ hello: string }>('{ hello }')
      .then((r) => r.hello),
    'world',
  );
  await s.client('bob', 'b1').request('{ hello }');
  t.like(await failure(s.client('alice', 'a3').request('{ hello }')), { code: 'SESSION_LIMIT_EXCEEDED' });
});

test('the app cap refuses with SESSION_LIMIT_EXCEEDED 403 (level APP, limit), whoever asks', async (t) => {
  const s = await serveAlone(t, { app: { maxSessions: 2 }, user: { maxSessions: 5 } });
  await s.client('alice', 'a1').request('{ hello }');
  await s.client('bob', 'b1').request('{ hello }');
  t.like(await failure(s.client('carol', 'c1').request('{ hello }')), {
    code: 'SESSION_LIMIT_EXCEEDED',
    status: 403,
    extensions: { level: 'APP', limit: 2 },
  });
  t.like(await failure(s.client('alice', 'a2').request('{ hello }')), { extensions: { level: 'APP', limit: 2 } });
  t.is(await countRows(s.controller), 2);
  // A revoked session frees its seat.
  const [bob] = await query<{ id: string }>(s.controller, "select id from gsc_session where user_id = 'bob'");
  await s.controller.revoke(bob.id);
  await s.client('carol', 'c1').request('{ hello }');
  t.is(await countLive(s.controller), 2);
});

test('anonymous requests pass untouched, even when no session may be admitted', async (t) => {
  const s = await serveAlone(t, { app: { maxSessions: 0 } });
  t.deepEqual(await s.client().request('{ hello whoami }'), { hello: 'world', whoami: null });
  // A user id without a session key is not an identity either.
  t.deepEqual(await s.client('alice').request('{ hello }'), { hello: 'world' });
  t.like(await failure(s.client('alice', 'a1').request('{ hello }')), {
    code: 'SESSION_LIMIT_EXCEEDED',
    extensions: { level: 'APP', limit: 0 },
  });
  t.is(await countRows(s.controller), 0);
});

test('exempt identities (exempt: true or isExempt) are recorded but neither limited nor counted', async (t) => {
  const s = await serveAlone(t, {
    app: { maxSessions: 1 },
    user: { maxSessions: 1 },
    // Staff are exempt by the option; the host marks "robots" exempt on the identity itself.
    isExempt: (identity) => identity.exempt === true || (identity.groups ?? []).includes('staff'),
    identify: (ctx) => ctx.identity && { ...ctx.identity, exempt: ctx.identity.groups?.includes('robot') ?? false },
  });
  for (const key of ['d1', 'd2', 'd3']) {
    const r = await s.client('dave', key, ['staff']).request<Whoami>('{ whoami }');
    t.regex(r.whoami!, /^dave:/);
  }
  for (const key of ['r1', 'r2']) await s.client('robo', key, ['robot']).request('{ hello }');
  t.is(await countRows(s.controller, 'exempt = true'), 5, 'exempt sessions are recorded, and flagged');
  // They did not use the single app seat: alice gets it, and then the app is full.
  await s.client('alice', 'a1').request('{ hello }');
  t.like(await failure(s.client('bob', 'b1').request('{ hello }')), { extensions: { level: 'APP', limit: 1 } });
  // Exempt users are still admitted when the app is full.
  await s.client('dave', 'd4', ['staff']).request('{ hello }');
  t.is(await countRows(s.controller, 'exempt = false'), 1);
});

test('openSession admits explicitly on the same path as a request, and is idempotent per key', async (t) => {
  const admitted: AdmitEvent[] = [];
  const s = await serveAlone(t, { user: { maxSessions: 2 }, onAdmit: (e) => admitted.push(e) });
  const opened = await s.controller.openSession({ userId: 'alice', sessionKey: 'login-1', userAgent: 'phone' });
  t.regex(opened.id, UUID);
  t.like(opened, { userId: 'alice', userAgent: 'phone', revokedAt: null, exempt: false });
  t.false('keyHash' in opened);

  const again = await s.controller.openSession({ userId: 'alice', sessionKey: 'login-1' });
  t.is(again.id, opened.id, 'opening the same key twice gives the same session');
  t.is(admitted.length, 1, 'and admits it once');
  const r = await s.client('alice', 'login-1').request<Whoami>('{ whoami }');
  t.is(r.whoami, `alice:${opened.id}`, 'a request with the key uses the session the login opened');

  // Sessions opened either way count toward one cap.
  await s.client('alice', 'implicit-2').request('{ hello }');
  const refused = await t.throwsAsync(s.controller.openSession({ userId: 'alice', sessionKey: 'login-3' }));
  t.like((refused as unknown as { extensions: object }).extensions, {
    code: 'SESSION_LIMIT_EXCEEDED',
    level: 'USER',
    limit: 2,
  });
  t.is(await countRows(s.controller), 2);

  await s.controller.revoke(opened.id, { reason: 'LOGOUT' });
  const revoked = await t.throwsAsync(s.controller.openSession({ userId: 'alice', sessionKey: 'login-1' }));
  t.like((revoked as unknown as { extensions: object }).extensions, { code: 'SESSION_REVOKED', reason: 'LOGOUT' });
  await t.throwsAsync(s.controller.openSession({ userId: '', sessionKey: 'x' }), { message: /userId/ });
});

test('a login resolver that calls openSession gets the cap refusal as the request error', async (t) => {
  const s = await serveAlone(t, { user: { maxSessions: 1 } }, (controller) =>
    makeExecutableSchema({
      typeDefs: `${plainTypeDefs} type Mutation { login(user: String!, key: String!): String! }`,
      resolvers: {
        Query: {
          hello: () => 'world',
          whoami: (_: unknown, __: unknown, ctx: TestContext) => currentSession(ctx)?.id ?? null,
        },
        Mutation: {
          login: async (_: unknown, args: { user: string; key: string }) =>
            (await controller.openSession({ userId: args.user, sessionKey: args.key })).id,
        },
      },
    }),
  );
  const login = (key: string) =>
    s.client().request<{ login: string }>('mutation ($key: String!) { login(user: "alice", key: $key) }', { key });
  const { login: id } = await login('token-1');
  t.is((await s.client('alice', 'token-1').request<Whoami>('{ whoami }')).whoami, id);
  const refused = await failure(login('token-2'));
  t.like(refused, { code: 'SESSION_LIMIT_EXCEEDED', status: 403, extensions: { level: 'USER', limit: 1 } });
});

test('limitFor decides per identity, sync or async; null is unlimited; undefined falls through', async (t) => {
  const s = await serveAlone(t, {
    user: { maxSessions: 2 },
    limitFor: (identity) => {
      if (identity.userId === 'solo') return 1;
      if (identity.userId === 'team') return Promise.resolve(3);
      if (identity.userId === 'boss') return null;
      if (identity.userId === 'ruled') return 1;
      return undefined;
    },
  });
  // limitFor wins over a stored rule for the same user.
  await query(
    s.controller,
    "insert into gsc_limit_rule (subject_type, subject, max_sessions) values ('USER', 'ruled', 5)",
  );
  const admitUntilRefused = async (user: string, max = 8) => {
    for (let i = 1; i <= max; i++) {
      const result = await s
        .client(user, `${user}-${i}`)
        .request('{ hello }')
        .then(
          () => undefined,
          (error) => error,
        );
      if (result) return { admitted: i - 1, refused: (await failure(Promise.reject(result))).extensions };
    }
    return { admitted: max, refused: undefined };
  };
  t.like(await admitUntilRefused('solo'), { admitted: 1, refused: { level: 'USER', limit: 1 } });
  t.like(await admitUntilRefused('team'), { admitted: 3, refused: { level: 'USER', limit: 3 } });
  t.like(await admitUntilRefused('boss'), { admitted: 8, refused: undefined });
  t.like(await admitUntilRefused('ruled'), { admitted: 1, refused: { level: 'USER', limit: 1 } });
  t.like(await admitUntilRefused('other'), { admitted: 2, refused: { level: 'USER', limit: 2 } });
});

test('stored limit rules: a user rule, else the most permissive group rule, else user.maxSessions', async (t) => {
  const s = await serveAlone(t, { user: { maxSessions: 2 } });
  await query(
    s.controller,
    `insert into gsc_limit_rule (subject_type, subject, max_sessions) values
      ('USER', 'vip', null), ('USER', 'strict', 1), ('GROUP', 'small', 1), ('GROUP', 'large', 3), ('GROUP', 'open', null)`,
  );
  const admitted = async (user: string, groups: string[], tries = 6, round = 'a') => {
    let n = 0;
    for (let i = 0; i < tries; i++) {
      const ok = await s
        .client(user, `${user}-${round}${i}`, groups)
        .request('{ hello }')
        .then(
          () => true,
          () => false,
        );
      if (ok) n++;
    }
    return n;
  };
  t.is(await admitted('vip', ['small']), 6, 'a user rule of null: unlimited, whatever the groups');
  t.is(await admitted('strict', ['large', 'open']), 1, 'a user rule wins over every group rule');
  t.is(await admitted('member', ['small', 'large']), 3, 'the most permissive group rule');
  t.is(await admitted('lead', ['small', 'open']), 6, 'an unlimited group is the most permissive');
  t.is(await admitted('junior', ['small']), 1, 'a group rule may be stricter than the default');
  t.is(await admitted('nobody', ['unknown-group']), 2, 'no rule applies: user.maxSessions');
  // A rule changed in the database takes effect on the next admission.
  await query(s.controller, "update gsc_limit_rule set max_sessions = 2 where subject = 'small'");
  t.is(await admitted('junior', ['small'], 3, 'b'), 1, 'junior already holds one session: one more fits');
});

test('LOG_ONLY admits over the cap and reports it to onReject (allowed) and onAdmit (overLimit)', async (t) => {
  const rejected: RejectEvent[] = [];
  const admitted: AdmitEvent[] = [];
  const s = await serveAlone(t, {
    user: { maxSessions: 1, onLimit: 'LOG_ONLY' },
    onReject: (e) => rejected.push(e),
    onAdmit: (e) => admitted.push(e),
  });
  await s.client('alice', 'a1').request('{ hello }');
  await s.client('alice', 'a2').request('{ hello }');
  await s.client('alice', 'a3').request('{ hello }');
  t.is(await countLive(s.controller, 'alice'), 3, 'nobody refused, nobody evicted');
  t.is(rejected.length, 2);
  t.like(rejected[0], { level: 'USER', limit: 1, allowed: true, identity: { userId: 'alice' } });
  t.is(admitted.length, 3);
  t.is(admitted[0].overLimit, undefined);
  t.deepEqual(admitted[1].overLimit, { level: 'USER', limit: 1 });
});

test('hooks see admissions, refusals and revocations, never the session key or its digest', async (t) => {
  const events: Array<['admit', AdmitEvent] | ['reject', RejectEvent] | ['revoke', RevokeEvent]> = [];
  const s = await serveAlone(t, {
    user: { maxSessions: 1 },
    onAdmit: (e) => events.push(['admit', e]),
    onReject: (e) => events.push(['reject', e]),
    onRevoke: (e) => events.push(['revoke', e]),
  });
  const { whoami } = await s.client('alice', 'secret-key-1', ['staffers']).request<Whoami>('{ whoami }');
  await failure(s.client('alice', 'secret-key-2').request('{ hello }'));
  const id = whoami!.split(':')[1];
  await s.controller.revoke(id, { reason: 'REVOKED', note: 'lost phone' });

  t.deepEqual(
    events.map(([kind]) => kind),
    ['admit', 'reject', 'revoke'],
  );
  const [, admit] = events[0] as ['admit', AdmitEvent];
  t.like(admit.session, { id, userId: 'alice', ipAddress: '127.0.0.1', revokedAt: null });
  t.like(admit.identity, { userId: 'alice', groups: ['staffers'] });
  t.deepEqual(admit.evicted, []);
  const [, reject] = events[1] as ['reject', RejectEvent];
  t.like(reject, { level: 'USER', limit: 1, identity: { userId: 'alice' } });
  const [, revoke] = events[2] as ['revoke', RevokeEvent];
  t.is(revoke.reason, 'REVOKED');
  t.is(revoke.note, 'lost phone');
  t.deepEqual(
    revoke.sessions.map((x) => x.id),
    [id],
  );

  const serialized = JSON.stringify(events);
  for (const secret of [
    'secret-key-1',
    'secret-key-2',
    hashSessionKey('secret-key-1'),
    hashSessionKey('secret-key-2'),
  ]) {
    t.false(serialized.includes(secret), `hooks must not see ${secret}`);
  }
  for (const [, event] of events) {
    if ('identity' in event) t.false('sessionKey' in event.identity);
  }
});

test('a hook that throws does not fail the request it observes', async (t) => {
  const s = await serveAlone(t, {
    onAdmit: () => {
      throw new Error('audit sink down');
    },
  });
  const { whoami } = await s.client('alice', 'a1').request<Whoami>('{ whoami }');
  t.regex(whoami!, /^alice:/);
});

test('a key presented by another user is refused (UNAUTHENTICATED 401), not shared', async (t) => {
  const s = await serveAlone(t, {});
  const { whoami } = await s.client('alice', 'shared-key').request<Whoami>('{ whoami }');
  t.like(await failure(s.client('mallory', 'shared-key').request('{ whoami }')), {
    code: 'UNAUTHENTICATED',
    status: 401,
  });
  t.is(
    (await s.client('alice', 'shared-key').request<Whoami>('{ whoami }')).whoami,
    whoami,
    "alice's session is unaffected",
  );
  t.is(await countRows(s.controller), 1);
});

test('an identity without a usable user id or key fails with UNAUTHENTICATED 401, naming what is wrong', async (t) => {
  const s = await serveAlone(t, {
    identify: (ctx) =>
      ctx.identity ? { ...ctx.identity, userId: ctx.identity.userId === 'none' ? '' : ctx.identity.userId } : null,
  });
  const f = await failure(s.client('none', 'k').request('{ hello }'));
  t.like(f, { code: 'UNAUTHENTICATED', status: 401 });
  t.regex(f.message, /userId/);
  t.is(await countRows(s.controller), 0);
});

test('error responses carry no stack trace, even when Apollo runs in development mode', async (t) => {
  const db = await ownDatabase(t);
  const controller: SessionController<TestContext> = await SessionController.create<TestContext>({
    database: db.option(),
    identify: (ctx) => ctx.identity,
    user: { maxSessions: 1 },
  });
  t.teardown(() => controller.close());
  // `nodeEnv: 'development'` is what Apollo sees on a developer machine with NODE_ENV unset: it
  // then adds `extensions.stacktrace` to every error unless told otherwise.
  const server = new ApolloServer<TestContext>({
    typeDefs: plainTypeDefs,
    resolvers: { Query: { hello: () => 'world', whoami: () => null } },
    plugins: [controller.plugin()],
    nodeEnv: 'development',
  });
  const { url } = await startStandaloneServer(server, {
    listen: { port: 0, host: '127.0.0.1' },
    context: async ({ req }) => ({ identity: identityFromHeaders(req.headers) }),
  });
  t.teardown(() => server.stop());
  const client = (key: string) => new GraphQLClient(url, { headers: { 'x-user': 'alice', 'x-session': key } });
  await client('a1').request('{ hello }');
  const refused = await failure(client('a2').request('{ hello }'));
  t.is(refused.code, 'SESSION_LIMIT_EXCEEDED');
  t.false('stacktrace' in refused.extensions, JSON.stringify(refused.extensions));
  const [row] = await query<{ id: string }>(controller, 'select id from gsc_session');
  await controller.revoke(row.id);
  const revoked = await failure(client('a1').request('{ hello }'));
  t.is(revoked.code, 'SESSION_REVOKED');
  t.false('stacktrace' in revoked.extensions, JSON.stringify(revoked.extensions));
});

test('two servers on one database see the same sessions and enforce one cap', async (t) => {
  const database = await sharedDatabase(t);
  const a = await serve(t, { database, user: { maxSessions: 1 } });
  const b = await serve(t, { database, user: { maxSessions: 1 } });
  const onA = await a.client('alice', 'k1').request<Whoami>('{ whoami }');
  const onB = await b.client('alice', 'k1').request<Whoami>('{ whoami }');
  t.is(onB.whoami, onA.whoami);
  t.like(await failure(b.client('alice', 'k2').request('{ hello }')), { code: 'SESSION_LIMIT_EXCEEDED', status: 403 });
});
