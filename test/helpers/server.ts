import { ApolloServer, type ApolloServerOptions } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { makeExecutableSchema } from '@graphql-tools/schema';
import type { GraphQLSchema } from 'graphql';
import { GraphQLClient } from 'graphql-request';
import { SessionController } from '../../src/controller.js';
import type { Identity } from '../../src/identity.js';
import type { SessionControllerOptions } from '../../src/options.js';
import { currentSession } from '../../src/request-session.js';

export interface TestContext {
  identity: Identity | null;
}

/** A plain schema: the core plugin governs requests whatever the schema is. */
export const plainTypeDefs = /* GraphQL */ `
  type Query {
    hello: String!
    whoami: String
  }
`;

export function plainSchema(): GraphQLSchema {
  return makeExecutableSchema({
    typeDefs: plainTypeDefs,
    resolvers: {
      Query: {
        hello: () => 'world',
        whoami: (_: unknown, __: unknown, ctx: TestContext) => {
          const session = currentSession(ctx);
          return session ? `${session.userId}:${session.id}` : null;
        },
      },
    },
  });
}

/**
 * Identity travels in test headers: who, which session key, which groups; `x-ip` stands for the
 * client address the host would record (default 127.0.0.1).
 */
export function identityFromHeaders(headers: Record<string, string | string[] | undefined>): Identity | null {
  const userId = headers['x-user'];
  const sessionKey = headers['x-session'];
  if (typeof userId !== 'string' || typeof sessionKey !== 'string') return null;
  const groups = typeof headers['x-groups'] === 'string' ? headers['x-groups'].split(',').filter(Boolean) : [];
  const ip = typeof headers['x-ip'] === 'string' ? headers['x-ip'] : '127.0.0.1';
  return { userId, sessionKey, groups, ip, userAgent: String(headers['user-agent'] ?? '') };
}

/** Apollo Server settings a test may set: its logger, and stack traces as a development server shows them. */
export type ApolloSettings = Pick<
  ApolloServerOptions<TestContext>,
  'logger' | 'includeStacktraceInErrorResponses' | 'parseOptions' | 'validationRules' | 'formatError'
>;

export interface RunningServer {
  url: string;
  controller: SessionController<TestContext>;
  server: ApolloServer<TestContext>;
  /** A client that presents this identity. */
  client(userId?: string, sessionKey?: string, groups?: string[]): GraphQLClient;
  stop(): Promise<void>;
}

export async function startTestServer(
  options: Omit<SessionControllerOptions<TestContext>, 'identify'> &
    Partial<Pick<SessionControllerOptions<TestContext>, 'identify'>>,
  schema: (controller: SessionController<TestContext>) => GraphQLSchema | Promise<GraphQLSchema> = plainSchema,
  apollo: ApolloSettings = {},
): Promise<RunningServer> {
  const controller = await SessionController.create<TestContext>({
    identify: (ctx) => ctx.identity,
    ...options,
  });
  let server: ApolloServer<TestContext> | undefined;
  try {
    server = new ApolloServer<TestContext>({
      schema: await schema(controller),
      plugins: [controller.plugin()],
      ...apollo,
    });
    const { url } = await startStandaloneServer(server, {
      listen: { port: 0, host: '127.0.0.1' },
      context: async ({ req }) => ({ identity: identityFromHeaders(req.headers) }),
    });
    const running = server;
    return {
      url,
      controller,
      server: running,
      client: (userId, sessionKey, groups) =>
        new GraphQLClient(url, {
          headers: {
            ...(userId ? { 'x-user': userId } : {}),
            ...(sessionKey ? { 'x-session': sessionKey } : {}),
            ...(groups ? { 'x-groups': groups.join(',') } : {}),
          },
        }),
      stop: async () => {
        await running.stop();
        await controller.close();
      },
    };
  } catch (error) {
    await server?.stop().catch(() => {});
    await controller.close();
    throw error;
  }
}

/** The GraphQL error code of a failed graphql-request call, and its HTTP status. */
export async function failure(
  promise: Promise<unknown>,
): Promise<{ code: string; status: number; extensions: Record<string, unknown>; message: string }> {
  try {
    await promise;
  } catch (error) {
    const response = (
      error as {
        response?: { status: number; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> };
      }
    ).response;
    if (!response?.errors?.length) throw error;
    const first = response.errors[0];
    return {
      code: String(first.extensions?.code),
      status: response.status,
      extensions: first.extensions ?? {},
      message: first.message,
    };
  }
  throw new Error('expected the request to fail, but it succeeded');
}
