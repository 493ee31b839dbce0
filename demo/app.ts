import 'reflect-metadata';
import { ApolloServer } from '@apollo/server';
import { join } from 'node:path';
import { GraphQLError } from 'graphql';
import { SessionController, type Identity } from '../src/index.js';
import type { DemoConfig } from './config.js';
import { serveHttp } from './http.js';
import { metricsRoute } from './metrics.js';
import { buildDemoSchema, type DemoContext } from './schema.js';
import { DemoTokens, loadSecret } from './tokens.js';
import { findUser } from './users.js';

export interface RunningDemo {
  url: string;
  controller: SessionController<DemoContext>;
  stop(): Promise<void>;
}

/** Starts the demo server of docs/contract.md §7; used by `npm start`, the tests and the benchmark. */
export async function startDemo(config: DemoConfig): Promise<RunningDemo> {
  const tokens = new DemoTokens(await loadSecret(config.secret, config.dataDir));
  const controller = await SessionController.create<DemoContext>({
    database: config.databaseUrl ?? { embedded: { dataDir: join(config.dataDir, 'pglite') } },
    identify: (ctx) => ctx.identity,
    app: { maxSessions: config.appMaxSessions },
    user: { maxSessions: config.userMaxSessions, onLimit: config.onLimit },
    idleTimeout: config.idleTimeoutSeconds * 1000,
    isExempt: (identity) => identity.groups?.includes('staff') ?? false,
    isAdmin: (identity) => identity.groups?.includes('admin') ?? false,
    enabled: config.sessionControl,
  });
  let server: ApolloServer<DemoContext> | undefined;
  try {
    server = new ApolloServer<DemoContext>({
      schema: await buildDemoSchema(controller, tokens),
      plugins: [controller.plugin()],
      // demo/server.ts stops the server and then the controller on SIGINT/SIGTERM, in that order.
      stopOnTerminationSignals: false,
    });
    const { url } = await serveHttp(server, {
      port: config.port,
      routes: [await metricsRoute(controller)],
      context: async ({ req }) => {
        const userAgent = req.headers['user-agent'];
        const client = { ip: req.socket.remoteAddress ?? null, userAgent: typeof userAgent === 'string' ? userAgent : null };
        return { client, identity: await identityOf(req.headers.authorization, tokens, client) };
      },
    });
    const running = server;
    return {
      url,
      controller,
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

async function identityOf(
  authorization: string | undefined,
  tokens: DemoTokens,
  client: DemoContext['client'],
): Promise<Identity | null> {
  if (!authorization) return null;
  const token = /^Bearer (.+)$/i.exec(authorization)?.[1];
  const claims = token ? await tokens.verify(token) : null;
  const user = claims ? findUser(claims.userId) : undefined;
  if (!claims || !user) {
    throw new GraphQLError('Invalid or expired token.', {
      extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } },
    });
  }
  return { userId: user.username, sessionKey: claims.sessionKey, groups: user.groups, ...client };
}
