import 'reflect-metadata';
import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import { expressMiddleware } from '@as-integrations/express5';
import express from 'express';
import { GraphQLError } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { bearerToken, type Identity, SessionController } from '../src/index.js';
import type { DemoConfig } from './config.js';
import { armor, bodyErrors, DEMO_ORIGINS, demoCors, oneLoginPerOperation, sharedDefences } from './defences.js';
import { metricsRoute } from './metrics.js';
import { buildDemoSchema, type DemoContext } from './schema.js';
import { LoginThrottle } from './throttle.js';
import { DemoTokens, loadSecret } from './tokens.js';
import { findUser } from './users.js';

export interface RunningDemo {
  url: string;
  /** Where Prometheus scrapes, apart from the public port (METRICS_PORT); `null` when off. */
  metricsUrl: string | null;
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
  let throttle: LoginThrottle | undefined;
  let metricsServer: Server | undefined;
  const app = express();
  const httpServer = createServer(app);
  try {
    const limits = armor();
    throttle = await LoginThrottle.create(
      { perIp: config.loginPerIp, failuresPerUser: config.loginFailuresPerUser },
      config.databaseUrl,
    );
    // One set of defences for both transports: the same object goes to Apollo and to the socket.
    const shared = sharedDefences(config.debug);
    const schema = await buildDemoSchema(controller, tokens, throttle);
    // Subscriptions on the same port and path as HTTP, governed by the same controller, with the
    // library's default bounds (docs/contract.md §12) and the demo's origin policy.
    const live = controller.websocket({
      schema,
      ...shared,
      allowedOrigins: DEMO_ORIGINS,
      context: async ({ connectionParams, request }) => {
        const client = clientOf(request);
        // Authorization, authorization: any case of the key (docs/clients.md).
        const token = bearerToken(connectionParams);
        return { client, identity: await identityOf(token ? `Bearer ${token}` : undefined, tokens, client) };
      },
    });
    const wsServer = new WebSocketServer({ server: httpServer, path: '/graphql', ...live.serverOptions });
    const subscriptions = useServer(live, wsServer);
    server = new ApolloServer<DemoContext>({
      schema,
      // The defences run before the session plugin's check and before any resolver (defences.ts).
      // Apollo Sandbox and introspection whatever NODE_ENV is: exploring the API is the demo's point.
      plugins: [
        ...limits.plugins,
        oneLoginPerOperation(),
        controller.plugin(),
        ApolloServerPluginLandingPageLocalDefault(),
        ApolloServerPluginDrainHttpServer({ httpServer }),
        // Open sockets close before the server stops, so the controller closes last.
        { serverWillStart: async () => ({ drainServer: async () => subscriptions.dispose() }) },
      ],
      introspection: true,
      ...shared,
      // Answer as production would whatever NODE_ENV is; DEMO_DEBUG=1 shows stack traces.
      includeStacktraceInErrorResponses: config.debug,
      // demo/server.ts stops the server and then the controller on SIGINT/SIGTERM, in that order.
      stopOnTerminationSignals: false,
    });
    await server.start();
    // Prometheus scrapes the library's metrics (docs/contract.md §9) on a port of their own
    // (METRICS_PORT, on METRICS_HOST: loopback by default), never on the public one.
    const metricsEndpoint = config.metricsPort === null ? null : await serveMetrics(controller, config);
    metricsServer = metricsEndpoint?.server;
    app.use(
      '/graphql',
      // Browsers may call the API from the demo's page and Apollo Sandbox only, as on the socket.
      demoCors(),
      // Apollo's standalone server takes bodies up to 50 MB; no operation of the demo needs 100 kB.
      express.json({ limit: '100kb' }),
      expressMiddleware(server, {
        context: async ({ req }) => {
          const client = clientOf(req);
          return { client, identity: await identityOf(req.headers.authorization, tokens, client) };
        },
      }),
      bodyErrors,
    );
    // The web page (docs/contract.md §9) at `/`: static files, no build step; it talks to the
    // server only through /graphql like any other client.
    app.get('/vendor/graphql-ws.js', (_req, res) => {
      res.sendFile(GRAPHQL_WS_BROWSER_CLIENT, { headers: PAGE_HEADERS });
    });
    app.use(express.static(PUBLIC_DIR, { setHeaders: (res) => res.set(PAGE_HEADERS) }));
    await new Promise<void>((resolve, reject) => {
      httpServer.once('error', reject);
      httpServer.listen(config.port, () => resolve());
    });
    const url = `http://localhost:${(httpServer.address() as AddressInfo).port}/`;
    const running = server;
    const runningThrottle = throttle;
    return {
      url,
      metricsUrl: metricsEndpoint?.url ?? null,
      controller,
      stop: async () => {
        await running.stop();
        await closeServer(metricsServer);
        await runningThrottle.close();
        await controller.close();
      },
    };
  } catch (error) {
    await server?.stop().catch(() => {});
    httpServer.close();
    await closeServer(metricsServer);
    await throttle?.close().catch(() => {});
    await controller.close();
    throw error;
  }
}

/** `/metrics` on its own HTTP server; anything else there is a 404. */
async function serveMetrics(
  controller: SessionController<DemoContext>,
  config: DemoConfig,
): Promise<{ url: string; server: Server }> {
  const metrics = await metricsRoute(controller);
  const server = createServer((req, res) => {
    metrics(req, res).then(
      (served) => {
        if (!served) res.writeHead(404).end();
      },
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.metricsPort ?? 0, config.metricsHost, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = config.metricsHost.includes(':') ? `[${config.metricsHost}]` : config.metricsHost;
  return { url: `http://${host}:${port}/metrics`, server };
}

function closeServer(server: Server | undefined): Promise<void> {
  return new Promise((resolve) => (server?.listening ? server.close(() => resolve()) : resolve()));
}

/** The web page's files: demo/public. */
const PUBLIC_DIR = fileURLToPath(new URL('./public/', import.meta.url));

/**
 * graphql-ws's browser build, served from the installed package (it defines the `graphqlWs`
 * global). The package does not export the file, so it is found next to its package.json.
 */
const GRAPHQL_WS_BROWSER_CLIENT = join(
  dirname(createRequire(import.meta.url).resolve('graphql-ws/package.json')),
  'umd',
  'graphql-ws.min.js',
);
if (!existsSync(GRAPHQL_WS_BROWSER_CLIENT)) {
  throw new Error(`graphql-ws's browser client is missing: ${GRAPHQL_WS_BROWSER_CLIENT} (run npm install)`);
}

/**
 * The page runs only its own scripts and talks only to this origin (HTTP and WebSocket): even a
 * bug that put a server string into the page as HTML could not run it. Apollo Sandbox, at
 * /graphql, is not concerned.
 */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/** Where a request or a WebSocket upgrade came from: recorded on the session at login or connect. */
function clientOf(request: IncomingMessage): DemoContext['client'] {
  const userAgent = request.headers['user-agent'];
  return { ip: request.socket.remoteAddress ?? null, userAgent: typeof userAgent === 'string' ? userAgent : null };
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
