import 'reflect-metadata';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginCacheControl } from '@apollo/server/plugin/cacheControl';
import { startStandaloneServer } from '@apollo/server/standalone';
import responseCachePlugin from '@apollo/server-plugin-response-cache';
import { makeExecutableSchema } from '@graphql-tools/schema';
import test, { type ExecutionContext } from 'ava';
import type { GraphQLSchema } from 'graphql';
import { buildSchema, Ctx, Query, Resolver } from 'type-graphql';
import { UserSession } from '../src/api/types/user-session.js';
import type { UserSessionView } from '../src/api/views.js';
import { SessionController } from '../src/controller.js';
import { UniqueSession } from '../src/directive/decorator.js';
import { currentSession } from '../src/request-session.js';
import { sessionResolvers } from '../src/type-graphql.js';
import { isAdmin, SCHEMA_STYLES, type SchemaStyle } from './helpers/api.js';
import { ownDatabase } from './helpers/core.js';
import { identityFromHeaders, type TestContext } from './helpers/server.js';

/*
 * Issue 18, item 2: beside Apollo's cache-control plugin (every field cacheable for 60 s unless
 * hinted) and its response cache (which answers a hit without running a resolver, so without
 * authorization or seats), nothing the library resolves and no @uniqueSession field may be
 * served from the cache to another caller; a response holding them says Cache-Control: no-store.
 * In both schema styles.
 */

/** A host field returning the library's UserSession type, resolved by the host. */
function mySession(ctx: TestContext): UserSessionView | null {
  const session = currentSession(ctx);
  if (!session) return null;
  const now = new Date();
  return {
    id: session.id,
    userId: session.userId,
    status: 'ACTIVE',
    current: true,
    createdAt: now,
    lastSeenAt: now,
    expiresAt: null,
    ipAddress: null,
    userAgent: null,
    revokedAt: null,
    revokedReason: null,
    revokedNote: null,
    revokedBy: null,
    device: null,
  } as UserSessionView;
}

const who = (ctx: TestContext) => currentSession(ctx)?.userId ?? 'nobody';

@Resolver()
class HostResolver {
  @Query(() => String)
  hello(): string {
    return 'world';
  }

  @Query(() => String, { nullable: true })
  @UniqueSession({ max: 1 })
  exam(@Ctx() ctx: TestContext): string {
    return `exam for ${who(ctx)}`;
  }

  @Query(() => UserSession, { nullable: true })
  mySession(@Ctx() ctx: TestContext): UserSessionView | null {
    return mySession(ctx);
  }
}

const hostTypeDefs = /* GraphQL */ `
  type Query {
    hello: String!
    exam: String @uniqueSession(max: 1)
    mySession: UserSession
  }
`;

async function schemaFor(style: SchemaStyle, controller: SessionController<TestContext>): Promise<GraphQLSchema> {
  if (style === 'type-graphql') {
    return buildSchema({ resolvers: [...sessionResolvers(controller), HostResolver], validate: false });
  }
  return controller.transformSchema(
    makeExecutableSchema({
      typeDefs: [controller.typeDefs, hostTypeDefs],
      resolvers: [
        controller.resolverMap,
        {
          Query: {
            hello: () => 'world',
            exam: (_: unknown, __: unknown, ctx: TestContext) => `exam for ${who(ctx)}`,
            mySession: (_: unknown, __: unknown, ctx: TestContext) => mySession(ctx),
          },
        },
      ],
    }),
  );
}

interface Answer {
  status: number;
  cacheControl: string | null;
  /** The response cache says HIT or MISS (it sets `age` on a hit). */
  hit: boolean;
  body: { data?: any; errors?: Array<{ message: string; extensions?: { code?: string } }> };
}

async function serve(t: ExecutionContext, style: SchemaStyle) {
  const db = await ownDatabase(t);
  const controller = await SessionController.create<TestContext>({
    database: db.option(),
    identify: (ctx) => ctx.identity,
    isAdmin,
  });
  t.teardown(() => controller.close());
  const server = new ApolloServer<TestContext>({
    schema: await schemaFor(style, controller),
    plugins: [
      controller.plugin() as ApolloServerPlugin<TestContext>,
      ApolloServerPluginCacheControl({ defaultMaxAge: 60 }),
      responseCachePlugin(),
    ],
  });
  const { url } = await startStandaloneServer(server, {
    listen: { port: 0, host: '127.0.0.1' },
    context: async ({ req }) => ({ identity: identityFromHeaders(req.headers) }),
  });
  t.teardown(() => server.stop());
  const ask = async (query: string, userId: string, sessionKey: string, groups: string[] = []): Promise<Answer> => {
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-user': userId,
        'x-session': sessionKey,
        'x-groups': groups.join(','),
      },
      body: JSON.stringify({ query }),
    });
    return {
      status: response.status,
      cacheControl: response.headers.get('cache-control'),
      hit: response.headers.has('age'),
      body: (await response.json()) as Answer['body'],
    };
  };
  return { controller, ask, url };
}

const ACTIVE = '{ activeSessions { totalCount edges { node { userId current } } } }';
const STATS = '{ sessionStats { activeSessions activeUsers } }';
const MINE = '{ mySession { id userId status } }';

for (const style of SCHEMA_STYLES) {
  test.serial(
    `${style}: user B never gets user A's activeSessions (nor A's UserSession from a host field)`,
    async (t) => {
      const { ask } = await serve(t, style);
      const a = await ask(ACTIVE, 'ann', 'ann-1');
      t.deepEqual(a.body.data?.activeSessions.edges, [{ node: { userId: 'ann', current: true } }]);
      t.is(a.cacheControl, 'no-store', 'a response holding the session API is not cacheable');
      const b = await ask(ACTIVE, 'bob', 'bob-1');
      t.false(b.hit, 'not answered from the cache');
      t.deepEqual(b.body.data?.activeSessions.edges, [{ node: { userId: 'bob', current: true } }]);

      const mineA = await ask(MINE, 'ann', 'ann-1');
      t.is(mineA.body.data?.mySession.userId, 'ann');
      t.is(mineA.cacheControl, 'no-store', "a host field returning the library's UserSession is not cacheable");
      const mineB = await ask(MINE, 'bob', 'bob-1');
      t.false(mineB.hit);
      t.is(mineB.body.data?.mySession.userId, 'bob');

      // What is not governed stays cacheable as the host configured it.
      const hello = await ask('{ hello }', 'ann', 'ann-1');
      t.is(hello.cacheControl, 'max-age=60, public', "the host's own fields keep the host's cache policy");
    },
  );

  test.serial(`${style}: a non-admin never gets the admin-only sessionStats`, async (t) => {
    const { ask } = await serve(t, style);
    const admin = await ask(STATS, 'root', 'root-1', ['admin']);
    t.is(admin.body.data?.sessionStats.activeSessions, 1);
    t.is(admin.cacheControl, 'no-store');
    const other = await ask(STATS, 'eve', 'eve-1');
    t.false(other.hit, 'not answered from the cache');
    t.is(other.body.data ?? null, null);
    t.is(other.body.errors?.[0]?.extensions?.code, 'FORBIDDEN');
  });

  test.serial(
    `${style}: a second session never reads a @uniqueSession(max: 1) field from the cache without a seat`,
    async (t) => {
      const { ask } = await serve(t, style);
      const first = await ask('{ exam }', 'ann', 'ann-1');
      t.is(first.body.data?.exam, 'exam for ann');
      t.is(first.cacheControl, 'no-store', 'a response holding a governed field is not cacheable');
      const second = await ask('{ exam }', 'ann', 'ann-2');
      t.false(second.hit, 'not answered from the cache');
      t.is(second.body.data?.exam, null);
      t.is(second.body.errors?.[0]?.extensions?.code, 'SESSION_LIMIT_EXCEEDED', 'the seat is taken');
    },
  );

  test.serial(`${style}: a revoked session gets no cached answer`, async (t) => {
    const { ask, controller } = await serve(t, style);
    // The host's own cacheable field is cached for everyone...
    t.is((await ask('{ hello }', 'ann', 'ann-1')).body.data?.hello, 'world');
    t.true((await ask('{ hello }', 'bob', 'bob-1')).hit, 'the cache works (the host field is public)');
    const [ann] = await controller.revokeUser('ann', { reason: 'ADMIN_REVOKED' });
    t.truthy(ann);
    // ...but a revoked session is refused before the cache is read.
    const revoked = await ask('{ hello }', 'ann', 'ann-1');
    t.is(revoked.status, 401);
    t.is(revoked.body.errors?.[0]?.extensions?.code, 'SESSION_REVOKED');
    t.is(revoked.body.data, undefined);
  });
}
