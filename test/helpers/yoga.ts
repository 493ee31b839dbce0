import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GraphQLClient } from 'graphql-request';
import { createSchema, createYoga, Repeater, type YogaServerOptions } from 'graphql-yoga';
import type { GraphQLSchema } from 'graphql';
import { SessionController } from '../../src/controller.js';
import { useSessionControl } from '../../src/envelop.js';
import { currentSession, requireSession } from '../../src/request-session.js';
import type { SessionControllerOptions } from '../../src/options.js';
import { identityFromHeaders, type TestContext } from './server.js';

/**
 * A Yoga app as a host writes one, schema-first: its own types beside the session API
 * (`controller.typeDefs` + `controller.resolverMap`), `@uniqueSession` fields made enforced by
 * `controller.transformSchema`, and subscriptions (Yoga serves them over SSE).
 */
const yogaTypeDefs = /* GraphQL */ `
  type Query {
    hello: String!
    whoami: String
    mine: String!
    exam: String @uniqueSession(max: 1)
    seat: String @uniqueSession(max: 1, scope: APP)
  }
  type Mutation {
    login(user: String!, key: String!): String!
  }
  type Subscription {
    ticks(every: Int! = 50): Int!
    examTimer: Int! @uniqueSession(max: 1)
  }
`;

/** One event every `every` ms; ended at once by `return()` (a Repeater), as a real event source is. */
function counting(every: number, field: string) {
  return new Repeater<Record<string, number>>(async (push, stop) => {
    let n = 0;
    const timer = setInterval(() => void push({ [field]: ++n }), every);
    await stop;
    clearInterval(timer);
  });
}

function yogaSchema(controller: SessionController<TestContext>): GraphQLSchema {
  return controller.transformSchema(
    createSchema<TestContext>({
      typeDefs: [controller.typeDefs, yogaTypeDefs],
      resolvers: [
        controller.resolverMap,
        {
          Query: {
            hello: () => 'world',
            whoami: (_: unknown, __: unknown, ctx: TestContext) => {
              const session = currentSession(ctx);
              return session ? `${session.userId}:${session.id}` : null;
            },
            mine: (_: unknown, __: unknown, ctx: TestContext) => requireSession(ctx).userId,
            exam: (_: unknown, __: unknown, ctx: TestContext) => `exam for ${currentSession(ctx)?.userId}`,
            seat: (_: unknown, __: unknown, ctx: TestContext) => `seat for ${currentSession(ctx)?.userId}`,
          },
          Mutation: {
            // An explicit admission, as a login resolver does it.
            login: async (_: unknown, args: { user: string; key: string }) =>
              (await controller.openSession({ userId: args.user, sessionKey: args.key })).id,
          },
          Subscription: {
            ticks: { subscribe: (_: unknown, args: { every: number }) => counting(args.every, 'ticks') },
            examTimer: { subscribe: () => counting(50, 'examTimer') },
          },
        },
      ],
    }),
  );
}

export interface YogaTestServer {
  url: string;
  controller: SessionController<TestContext>;
  /** A client that presents this identity (test headers, as test/helpers/server.ts reads them). */
  client(userId?: string, sessionKey?: string, groups?: string[]): GraphQLClient;
  headers(userId?: string, sessionKey?: string, groups?: string[]): Record<string, string>;
  stop(): Promise<void>;
}

export type YogaSettings = Partial<Pick<YogaServerOptions<object, object>, 'maskedErrors' | 'plugins'>>;

function identityHeaders(userId?: string, sessionKey?: string, groups?: string[]): Record<string, string> {
  return {
    ...(userId ? { 'x-user': userId } : {}),
    ...(sessionKey ? { 'x-session': sessionKey } : {}),
    ...(groups ? { 'x-groups': groups.join(',') } : {}),
  };
}

/** A Yoga server with the envelop plugin on a real port, and its controller; `stop()` ends both. */
export async function startYogaServer(
  options: Omit<SessionControllerOptions<TestContext>, 'identify'>,
  schema: (controller: SessionController<TestContext>) => GraphQLSchema = yogaSchema,
  settings: YogaSettings = {},
): Promise<YogaTestServer> {
  const controller = await SessionController.create<TestContext>({ identify: (ctx) => ctx.identity, ...options });
  let http: Server | undefined;
  try {
    const yoga = createYoga<object, TestContext>({
      schema: schema(controller),
      logging: false,
      ...settings,
      plugins: [useSessionControl(controller), ...(settings.plugins ?? [])],
      context: ({ request }) => ({ identity: identityFromHeaders(Object.fromEntries(request.headers)) }),
    });
    const server = (http = createServer(yoga));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
    return {
      url,
      controller,
      headers: identityHeaders,
      client: (userId, sessionKey, groups) =>
        new GraphQLClient(url, { headers: identityHeaders(userId, sessionKey, groups) }),
      stop: async () => {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await controller.close();
      },
    };
  } catch (error) {
    http?.close();
    await controller.close();
    throw error;
  }
}
