import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ExecutionArgs, GraphQLSchema } from 'graphql';
import { GraphQLClient } from 'graphql-request';
import { useServer } from 'graphql-ws/use/ws';
import { createSchema, createYoga, Repeater, type YogaServerOptions } from 'graphql-yoga';
import { WebSocketServer } from 'ws';
import { SessionController } from '../../src/controller.js';
import { useSessionControl } from '../../src/envelop.js';
import type { SessionControllerOptions } from '../../src/options.js';
import { currentSession, requireSession } from '../../src/request-session.js';
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

export function yogaSchema(controller: SessionController<TestContext>): GraphQLSchema {
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
  /** The same endpoint as a WebSocket URL (graphql-ws), when started with `websocket: true`. */
  wsUrl: string;
  controller: SessionController<TestContext>;
  /** A client that presents this identity (test headers, as test/helpers/server.ts reads them). */
  client(userId?: string, sessionKey?: string, groups?: string[]): GraphQLClient;
  headers(userId?: string, sessionKey?: string, groups?: string[]): Record<string, string>;
  stop(): Promise<void>;
}

export type YogaSettings = Partial<Pick<YogaServerOptions<object, object>, 'maskedErrors' | 'plugins'>> & {
  /** Also serve graphql-ws on the same port, as Yoga documents it (its `getEnveloped` on the socket). */
  websocket?: boolean;
};

export function identityHeaders(userId?: string, sessionKey?: string, groups?: string[]): Record<string, string> {
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
    const { websocket, ...yogaSettings } = settings;
    const yoga = createYoga<object, TestContext>({
      schema: schema(controller),
      logging: false,
      ...yogaSettings,
      plugins: [useSessionControl(controller), ...(settings.plugins ?? [])],
      // Over HTTP the identity is in the headers; over graphql-ws in the connectionParams.
      context: ({ request, connectionParams }: { request?: Request; connectionParams?: Record<string, string> }) => ({
        identity: identityFromHeaders(request ? Object.fromEntries(request.headers) : (connectionParams ?? {})),
      }),
    });
    const server = (http = createServer(yoga));
    const sockets = websocket ? yogaOnWebSocket(yoga, server) : undefined;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
    return {
      url,
      wsUrl: url.replace('http:', 'ws:'),
      controller,
      headers: identityHeaders,
      client: (userId, sessionKey, groups) =>
        new GraphQLClient(url, { headers: identityHeaders(userId, sessionKey, groups) }),
      stop: async () => {
        await sockets?.dispose();
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

/**
 * graphql-ws on Yoga's port, Yoga's own recipe (the-guild.dev/graphql/yoga-server/docs/features/subscriptions):
 * every operation on the socket goes through Yoga's envelop (`getEnveloped`), so the envelop
 * plugin governs it as it governs HTTP.
 */
function yogaOnWebSocket(yoga: ReturnType<typeof createYoga<object, TestContext>>, server: Server) {
  const wsServer = new WebSocketServer({ server, path: yoga.graphqlEndpoint });
  type Enveloped = ReturnType<typeof yoga.getEnveloped>;
  return useServer(
    {
      execute: (args: ExecutionArgs) => (args.rootValue as Enveloped).execute(args),
      subscribe: (args: ExecutionArgs) => (args.rootValue as Enveloped).subscribe(args),
      onSubscribe: async (ctx, _id, params) => {
        const enveloped = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params,
        });
        const args = {
          schema: enveloped.schema,
          operationName: params.operationName,
          document: enveloped.parse(params.query),
          variableValues: params.variables,
          contextValue: await enveloped.contextFactory(),
          rootValue: enveloped,
        };
        const errors = enveloped.validate(args.schema, args.document);
        if (errors.length) return errors;
        return args;
      },
    },
    wsServer,
  );
}
