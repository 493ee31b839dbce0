// Issue 21, response caching: beside `@graphql-yoga/plugin-response-cache` (which answers a hit
// before anything executes, so without authorization or seats), nothing governed is served from
// the cache to another session, and a revoked session gets no cached answer, not even its own
// (docs/contract.md §14). The library makes this so whatever the host's cache options: the cache
// below is the worst case, one entry for everyone (`session: () => null`) kept for a minute.
import { cacheControlDirective, useResponseCache } from '@graphql-yoga/plugin-response-cache';
import test, { type ExecutionContext } from 'ava';
import { createSchema } from 'graphql-yoga';
import type { SessionController } from '../src/controller.js';
import { isAdmin } from './helpers/api.js';
import { createTestDatabase } from './helpers/database.js';
import type { TestContext } from './helpers/server.js';
import { identityHeaders, startYogaServer, yogaSchema } from './helpers/yoga.js';

type CacheOptions = Partial<Parameters<typeof useResponseCache>[0]>;

interface Answer {
  status: number;
  etag: string | null;
  /** What the response cache says about this answer (`includeExtensionMetadata`). */
  hit: boolean;
  body: { data?: any; errors?: Array<{ message: string; extensions?: { code?: string } }> };
}

/** A host that hints its own schema: `@cacheControl` defined, a governed field hinted cacheable. */
const hintedTypeDefs = /* GraphQL */ `
  ${cacheControlDirective}
  type Query {
    hello: String! @cacheControl(maxAge: 60, scope: PUBLIC)
    exam: String @uniqueSession(max: 1) @cacheControl(maxAge: 60, scope: PUBLIC)
  }
`;

function hintedSchema(controller: SessionController<TestContext>) {
  return controller.transformSchema(
    createSchema<TestContext>({
      typeDefs: [controller.typeDefs, hintedTypeDefs],
      resolvers: [
        controller.resolverMap,
        {
          Query: {
            hello: () => 'world',
            exam: (_: unknown, __: unknown, ctx: TestContext) => `exam for ${ctx.identity?.userId}`,
          },
        },
      ],
    }),
  );
}

async function serve(t: ExecutionContext, cache: CacheOptions = {}, schema = yogaSchema) {
  const db = await createTestDatabase();
  t.teardown(() => db.drop());
  const server = await startYogaServer({ database: db.option(), isAdmin }, schema, {
    plugins: [useResponseCache({ session: () => null, ttl: 60_000, includeExtensionMetadata: true, ...cache })],
  });
  t.teardown(() => server.stop());
  const ask = async (
    query: string,
    userId: string,
    sessionKey: string,
    groups?: string[],
    headers: Record<string, string> = {},
  ): Promise<Answer> => {
    const response = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...identityHeaders(userId, sessionKey, groups), ...headers },
      body: JSON.stringify({ query }),
    });
    const text = await response.text();
    const body = (text ? JSON.parse(text) : {}) as Answer['body'] & {
      extensions?: { responseCache?: { hit?: boolean } };
    };
    return {
      status: response.status,
      etag: response.headers.get('etag'),
      hit: body.extensions?.responseCache?.hit === true,
      body,
    };
  };
  return { ...server, ask };
}

const ACTIVE = '{ activeSessions { totalCount edges { node { userId current } } } }';
const STATS = '{ sessionStats { activeSessions activeUsers } }';

test("the cache works for the host's own fields; user B never gets user A's activeSessions", async (t) => {
  const { ask } = await serve(t);
  t.is((await ask('{ hello }', 'ann', 'ann-1')).body.data?.hello, 'world');
  // An ungoverned field is cached as the host configured it (the whole answer shown if not).
  t.like(await ask('{ hello }', 'bob', 'bob-1'), { hit: true, status: 200, body: { data: { hello: 'world' } } });

  const a = await ask(ACTIVE, 'ann', 'ann-1');
  t.deepEqual(a.body.data?.activeSessions.edges, [{ node: { userId: 'ann', current: true } }]);
  const b = await ask(ACTIVE, 'bob', 'bob-1');
  t.false(b.hit, 'not answered from the cache');
  t.deepEqual(b.body.data?.activeSessions.edges, [{ node: { userId: 'bob', current: true } }]);
  // Nor from ann's own entry: the session API is never stored.
  t.false((await ask(ACTIVE, 'ann', 'ann-1')).hit);
});

test('a non-admin never gets the admin-only sessionStats from the cache', async (t) => {
  const { ask } = await serve(t);
  const admin = await ask(STATS, 'root', 'root-1', ['admin']);
  t.is(admin.body.data?.sessionStats.activeSessions, 1);
  const other = await ask(STATS, 'eve', 'eve-1');
  t.false(other.hit, 'not answered from the cache');
  t.is(other.body.data ?? null, null);
  t.is(other.body.errors?.[0]?.extensions?.code, 'FORBIDDEN');
});

for (const [title, schema] of [
  ['a schema without @cacheControl', yogaSchema],
  ['a schema that hints the field cacheable with @cacheControl(maxAge: 60)', hintedSchema],
] as const) {
  test(`a second session never reads a @uniqueSession(max: 1) field from the cache without a seat (${title})`, async (t) => {
    const { ask } = await serve(t, {}, schema);
    const first = await ask('{ exam }', 'ann', 'ann-1');
    t.is(first.body.data?.exam, 'exam for ann');
    t.false((await ask('{ exam }', 'ann', 'ann-1')).hit, 'a governed field is never stored');
    const second = await ask('{ exam }', 'ann', 'ann-2');
    t.false(second.hit, 'not answered from the cache');
    t.is(second.body.data?.exam, null);
    t.is(second.body.errors?.[0]?.extensions?.code, 'SESSION_LIMIT_EXCEEDED', 'the seat is taken');
    // The host's hint still counts for its own field.
    await ask('{ hello }', 'ann', 'ann-1');
    t.like(await ask('{ hello }', 'bob', 'bob-1'), { hit: true, body: { data: { hello: 'world' } } });
  });
}

test("a revoked session gets no cached answer: neither another session's nor its own", async (t) => {
  // A cache per session key: ann's own earlier answer is the entry a revoked ann would read.
  const { ask, controller } = await serve(t, { session: (request) => request.headers.get('x-session') });
  t.is((await ask('{ hello }', 'ann', 'ann-1')).body.data?.hello, 'world');
  const own = await ask('{ hello }', 'ann', 'ann-1');
  t.like(own, { hit: true, body: { data: { hello: 'world' } } }, 'the cache works');
  t.truthy(own.etag);
  await controller.revokeUser('ann', { reason: 'ADMIN_REVOKED' });

  const revoked = await ask('{ hello }', 'ann', 'ann-1');
  t.false(revoked.hit);
  t.is(revoked.status, 401);
  t.is(revoked.body.errors?.[0]?.extensions?.code, 'SESSION_REVOKED');
  t.is(revoked.body.data, undefined);
  // A conditional request gets no "304 Not Modified" (use your copy) either.
  const conditional = await ask('{ hello }', 'ann', 'ann-1', undefined, { 'if-none-match': own.etag! });
  t.is(conditional.status, 401);
  t.is(conditional.body.errors?.[0]?.extensions?.code, 'SESSION_REVOKED');
});

test('a revoked session gets no answer from a cache shared with everyone', async (t) => {
  const { ask, controller } = await serve(t);
  t.is((await ask('{ hello }', 'bob', 'bob-1')).body.data?.hello, 'world');
  t.is((await ask('{ hello }', 'ann', 'ann-1')).body.data?.hello, 'world');
  await controller.revokeUser('ann', { reason: 'ADMIN_REVOKED' });
  const revoked = await ask('{ hello }', 'ann', 'ann-1');
  t.is(revoked.status, 401);
  t.is(revoked.body.errors?.[0]?.extensions?.code, 'SESSION_REVOKED');
  // Everyone else still gets the cached answer.
  t.like(await ask('{ hello }', 'bob', 'bob-1'), { hit: true, body: { data: { hello: 'world' } } });
});

test('a live session sending If-None-Match gets its answer (a 200 in place of the 304)', async (t) => {
  const { ask } = await serve(t);
  const first = await ask('{ hello }', 'ann', 'ann-1');
  t.truthy(first.etag);
  const again = await ask('{ hello }', 'ann', 'ann-1', undefined, { 'if-none-match': first.etag! });
  t.is(again.status, 200);
  t.is(again.body.data?.hello, 'world');
});
