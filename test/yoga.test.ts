// The envelop plugin on GraphQL Yoga (docs/contract.md §14): the same identify → check → refuse
// path as the Apollo plugin, over HTTP on a real Yoga server, driven by graphql-request and fetch.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { createSchema, createYoga } from 'graphql-yoga';
import { SessionController } from '../src/controller.js';
import { uniqueSessionTypeDefs } from '../src/directive/type-defs.js';
import { useSessionControl } from '../src/envelop.js';
import { SessionConfigError } from '../src/errors.js';
import { isAdmin, newKey } from './helpers/api.js';
import { createTestDatabase } from './helpers/database.js';
import type { TestContext } from './helpers/server.js';
import { failure } from './helpers/server.js';
import { startYogaServer, type YogaSettings, type YogaTestServer } from './helpers/yoga.js';

type Options = Parameters<typeof startYogaServer>[0];

async function yoga(t: ExecutionContext, options: Options = {}, settings: YogaSettings = {}): Promise<YogaTestServer> {
  const db = await createTestDatabase();
  t.teardown(() => db.drop());
  const server = await startYogaServer({ database: db.option(), isAdmin, ...options }, undefined, settings);
  t.teardown(() => server.stop());
  return server;
}

const WHOAMI = '{ whoami }';

test('a signed-in request is admitted implicitly and its resolvers see currentSession; anonymous passes', async (t) => {
  const server = await yoga(t);
  t.deepEqual(await server.client().request(WHOAMI), { whoami: null });
  const key = newKey();
  const first = await server.client('alice', key).request<{ whoami: string }>(WHOAMI);
  t.regex(first.whoami, /^alice:[0-9a-f-]{36}$/);
  // The same key is the same session.
  t.deepEqual(await server.client('alice', key).request(WHOAMI), first);
  // requireSession: an anonymous caller gets UNAUTHENTICATED, 401, as on Apollo.
  const anonymous = await failure(server.client().request('{ mine }'));
  t.is(anonymous.code, 'UNAUTHENTICATED');
  t.is(anonymous.status, 401);
  t.deepEqual(await server.client('alice', key).request('{ mine }'), { mine: 'alice' });
});

test('an explicit openSession (a login resolver) and the first request of its key share one session', async (t) => {
  const server = await yoga(t, { user: { maxSessions: 1 } });
  const key = newKey();
  const { login } = await server
    .client()
    .request<{ login: string }>('mutation($k: String!) { login(user: "bob", key: $k) }', {
      k: key,
    });
  const { whoami } = await server.client('bob', key).request<{ whoami: string }>(WHOAMI);
  t.is(whoami, `bob:${login}`);
  // The cap counts the login: a second device is refused, by the login and by a first request alike.
  const byLogin = await failure(
    server.client().request('mutation($k: String!) { login(user: "bob", key: $k) }', { k: newKey() }),
  );
  t.is(byLogin.code, 'SESSION_LIMIT_EXCEEDED');
  const byRequest = await failure(server.client('bob', newKey()).request(WHOAMI));
  t.like(byRequest, { code: 'SESSION_LIMIT_EXCEEDED', status: 403, extensions: { level: 'USER', limit: 1 } });
});

test('the user cap and the app cap refuse with SESSION_LIMIT_EXCEEDED and 403, before any resolver runs', async (t) => {
  const server = await yoga(t, { app: { maxSessions: 3 }, user: { maxSessions: 2 } });
  await server.client('alice', newKey()).request(WHOAMI);
  await server.client('alice', newKey()).request(WHOAMI);
  const user = await failure(server.client('alice', newKey()).request(WHOAMI));
  t.like(user, { code: 'SESSION_LIMIT_EXCEEDED', status: 403, extensions: { level: 'USER', limit: 2 } });
  await server.client('bob', newKey()).request(WHOAMI);
  const app = await failure(server.client('carol', newKey()).request(WHOAMI));
  t.like(app, { code: 'SESSION_LIMIT_EXCEEDED', status: 403, extensions: { level: 'APP', limit: 3 } });
  // A refused request runs nothing: the refusal is the only thing in the response.
  const response = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...server.headers('carol', newKey()) },
    body: JSON.stringify({ query: 'mutation { login(user: "zed", key: "never-admitted") }' }),
  });
  t.is(response.status, 403);
  const body = (await response.json()) as { data?: unknown; errors: unknown[] };
  t.false('data' in body);
  t.is(body.errors.length, 1);
  t.is(await server.controller.sessionLeases('Query.exam').then((l) => l.length), 0);
});

test('a revoked token gets 401 SESSION_REVOKED with its reason, and is never admitted again', async (t) => {
  const server = await yoga(t, { idleTimeout: '1h' });
  const key = newKey();
  const { whoami } = await server.client('alice', key).request<{ whoami: string }>(WHOAMI);
  await server.controller.revoke(whoami.slice('alice:'.length), { reason: 'LOGOUT' });
  const revoked = await failure(server.client('alice', key).request(WHOAMI));
  t.like(revoked, { code: 'SESSION_REVOKED', status: 401, extensions: { reason: 'LOGOUT' } });
  // Never admitted again.
  t.like(await failure(server.client('alice', key).request(WHOAMI)), { code: 'SESSION_REVOKED', status: 401 });
});

test('the session API cost bound applies as on Apollo: COST_LIMIT_EXCEEDED, 400', async (t) => {
  const server = await yoga(t, { api: { maxCallsPerRequest: 2 } });
  const key = newKey();
  const refused = await failure(
    server
      .client('alice', key)
      .request(
        '{ a: sessionStats { activeSessions } b: sessionStats { activeSessions } c: activeSessions { totalCount } }',
      ),
  );
  t.like(refused, { code: 'COST_LIMIT_EXCEEDED', status: 400, extensions: { limit: 2, cost: 3 } });
});

test('refusals carry no stack trace, even in development mode', async (t) => {
  const server = await yoga(t, { user: { maxSessions: 1 } }, { maskedErrors: { isDev: true } });
  await server.client('alice', newKey()).request(WHOAMI);
  const response = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...server.headers('alice', newKey()) },
    body: JSON.stringify({ query: '{ whoami exam }' }),
  });
  const text = await response.text();
  t.is(response.status, 403);
  t.regex(text, /SESSION_LIMIT_EXCEEDED/);
  t.notRegex(text, /stack|originalError|at .*\.ts:|http/);
  // A refusal inside a resolver too (an anonymous caller on a governed field).
  const field = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: '{ exam }' }),
  });
  const fieldText = await field.text();
  t.regex(fieldText, /UNAUTHENTICATED/);
  t.notRegex(fieldText, /stack|originalError/);
});

test('@uniqueSession seats on Yoga: one session per user on exam, the other gets a field error (200)', async (t) => {
  const server = await yoga(t);
  const first = server.client('alice', newKey());
  t.deepEqual(await first.request('{ exam }'), { exam: 'exam for alice' });
  const response = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...server.headers('alice', newKey()) },
    body: JSON.stringify({ query: '{ hello exam }' }),
  });
  t.is(response.status, 200);
  const body = (await response.json()) as {
    data: Record<string, unknown>;
    errors: Array<{ extensions: object; path: string[] }>;
  };
  t.deepEqual(body.data, { hello: 'world', exam: null });
  t.like(body.errors[0], {
    path: ['exam'],
    extensions: { code: 'SESSION_LIMIT_EXCEEDED', level: 'VIEW', field: 'Query.exam', limit: 1 },
  });
  // Another user has a seat of their own; the APP-scoped seat is one for everyone.
  t.deepEqual(await server.client('bob', newKey()).request('{ exam seat }'), {
    exam: 'exam for bob',
    seat: 'seat for bob',
  });
  const seat = await first.rawRequest('{ seat }').catch((error) => error.response);
  t.like(seat.errors[0], { extensions: { code: 'SESSION_LIMIT_EXCEEDED', level: 'VIEW', field: 'Query.seat' } });
  // Anonymous: UNAUTHENTICATED as a field error.
  const anonymous = await server
    .client()
    .rawRequest('{ exam }')
    .catch((error) => error.response);
  t.like(anonymous.errors[0], { extensions: { code: 'UNAUTHENTICATED' } });
});

test('the session API on Yoga: own sessions, a foreign id is NOT_FOUND, an admin revokes anyone', async (t) => {
  const server = await yoga(t);
  const aliceKey = newKey();
  const alice = server.client('alice', aliceKey);
  const bobKey = newKey();
  const bob = server.client('bob', bobKey);
  const admin = server.client('root', newKey(), ['admin']);
  const { whoami: bobWho } = await bob.request<{ whoami: string }>(WHOAMI);
  const bobSession = bobWho.slice('bob:'.length);
  const listed = await alice.request<{
    activeSessions: { totalCount: number; edges: Array<{ node: { userId: string; current: boolean } }> };
  }>('{ activeSessions { totalCount edges { node { userId current } } } }');
  t.is(listed.activeSessions.totalCount, 1);
  t.like(listed.activeSessions.edges[0].node, { userId: 'alice', current: true });
  // Foreign: no existence leak.
  const foreign = await alice
    .rawRequest('mutation($id: ID!) { revokeSession(id: $id) { id } }', { id: bobSession })
    .catch((e) => e.response);
  t.like(foreign.errors[0], { extensions: { code: 'NOT_FOUND' } });
  const stats = await alice.rawRequest('{ sessionStats { activeSessions } }').catch((e) => e.response);
  t.like(stats.errors[0], { extensions: { code: 'FORBIDDEN' } });
  // Admin: revokes bob's session; bob's next request is refused.
  const revoked = await admin.request<{ revokeSession: { status: string; revokedReason: string } }>(
    'mutation($id: ID!) { revokeSession(id: $id) { status revokedReason } }',
    { id: bobSession },
  );
  t.deepEqual(revoked.revokeSession, { status: 'REVOKED', revokedReason: 'ADMIN_REVOKED' });
  t.like(await failure(bob.request(WHOAMI)), {
    code: 'SESSION_REVOKED',
    status: 401,
    extensions: { reason: 'ADMIN_REVOKED' },
  });
  // Own: alice ends her other sessions.
  await server.client('alice', newKey()).request(WHOAMI);
  t.deepEqual(await alice.request('mutation { revokeOtherSessions }'), { revokeOtherSessions: 1 });
});

test('behind the kill switch (enabled: false) nothing is governed and @uniqueSession fields resolve', async (t) => {
  const server = await yoga(t, { enabled: false, user: { maxSessions: 1 } });
  await server.client('alice', newKey()).request(WHOAMI);
  t.deepEqual(await server.client('alice', newKey()).request('{ whoami exam }'), {
    whoami: null,
    exam: 'exam for undefined',
  });
});

test('a schema whose @uniqueSession nobody enforces is refused when the Yoga server is created', async (t) => {
  const db = await createTestDatabase();
  t.teardown(() => db.drop());
  const controller = await SessionController.create<TestContext>({
    database: db.option(),
    identify: (ctx) => ctx.identity,
  });
  t.teardown(() => controller.close());
  const schema = createSchema({ typeDefs: [uniqueSessionTypeDefs, 'type Query { exam: String @uniqueSession }'] });
  const error = t.throws(() => createYoga({ schema, plugins: [useSessionControl(controller)] }), {
    instanceOf: SessionConfigError,
  });
  t.regex(error?.message ?? '', /Query\.exam/);
});

test('the main entry loads neither @envelop/core nor graphql-yoga (an Apollo app installs neither)', (t) => {
  const root = resolve(import.meta.dirname, '../src');
  const seen = new Set<string>();
  const offenders: string[] = [];
  const walk = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const [, specifier] of text.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)) {
      if (/^(@envelop\/|graphql-yoga|@graphql-yoga\/|graphql-sse)/.test(specifier))
        offenders.push(`${file}: ${specifier}`);
      if (specifier.startsWith('.')) walk(resolve(dirname(file), specifier.replace(/\.js$/, '.ts')));
    }
  };
  walk(`${root}/index.ts`);
  t.true(seen.size > 20);
  t.deepEqual(offenders, []);
  // …while the envelop entry is where they are named.
  t.regex(readFileSync(`${root}/envelop/plugin.ts`, 'utf8'), /from '@envelop\/core'/);
});
