/**
 * A server process for the WebSocket bench (bench/websocket.ts): the session API and a `pulse`
 * subscription (one event a second) over graphql-ws on one port, with the library on or off
 * (`SESSION_CONTROL`). Identity travels in connectionParams `{ user, key }`. It prints
 * `READY <port>` and, on each `rss` line on stdin, `RSS <bytes>`.
 */
import 'reflect-metadata';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { makeExecutableSchema } from '@graphql-tools/schema';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { type Identity, SessionController } from '../src/index.js';

interface Context {
  identity: Identity | null;
}

const controller = await SessionController.create<Context>({
  database: process.env.DATABASE_URL,
  identify: (ctx) => ctx.identity,
  enabled: process.env.SESSION_CONTROL !== 'off',
  isAdmin: (identity) => identity.userId === 'admin',
});

async function* pulse() {
  for (let i = 0; ; i++) {
    yield { pulse: i };
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
}

const schema = controller.transformSchema(
  makeExecutableSchema({
    typeDefs: [controller.typeDefs, 'type Query { ok: Boolean! } type Subscription { pulse: Int! }'],
    resolvers: [controller.resolverMap, { Query: { ok: () => true }, Subscription: { pulse: { subscribe: pulse } } }],
  }),
);

const http = createServer();
const live = controller.websocket({
  schema,
  context: ({ connectionParams }) => {
    const { user, key } = (connectionParams ?? {}) as { user?: string; key?: string };
    return { identity: user && key ? { userId: user, sessionKey: key } : null };
  },
});
// The bounds and the origin policy hold from the upgrade on (docs/contract.md §12).
const wss = new WebSocketServer({ server: http, path: '/graphql', ...live.serverOptions });
const cleanup = useServer(live, wss);
await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
console.log(`READY ${(http.address() as AddressInfo).port}`);

for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'rss') {
    globalThis.gc?.();
    console.log(`RSS ${process.memoryUsage().rss}`);
  } else if (line === 'stop') {
    await cleanup.dispose();
    http.close();
    await controller.close();
    process.exit(0);
  }
}
