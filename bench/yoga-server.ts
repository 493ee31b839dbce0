/**
 * The Yoga bench server: GraphQL Yoga with the envelop plugin (`YOGA_SESSION_CONTROL=on`) or
 * without it (`off`: the host without the library), schema-first, with the identity taken from
 * headers as bench/server.ts takes it. Prints `yoga bench server at <url>` when ready; SIGTERM and
 * SIGINT stop it cleanly (pending touches flushed). `DATABASE_URL`: the bench database.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSchema, createYoga } from 'graphql-yoga';
import { useSessionControl } from '../src/envelop.js';
import { type Identity, SessionController } from '../src/index.js';

interface BenchContext {
  identity: Identity | null;
}

const on = process.env.YOGA_SESSION_CONTROL === 'on';
const typeDefs = /* GraphQL */ `
  type Query {
    "A plain field: what the hot path reads."
    dashboard: String!
  }
`;
const resolvers = {
  Query: { dashboard: (_: unknown, __: unknown, ctx: BenchContext) => `Welcome ${ctx.identity?.userId ?? 'guest'}` },
};

const controller = on
  ? await SessionController.create<BenchContext>({
      database: process.env.DATABASE_URL,
      identify: (ctx) => ctx.identity,
      idleTimeout: '30m',
    })
  : undefined;
const schema = controller
  ? controller.transformSchema(
      createSchema<BenchContext>({
        typeDefs: [controller.typeDefs, typeDefs],
        resolvers: [controller.resolverMap, resolvers],
      }),
    )
  : createSchema<BenchContext>({ typeDefs, resolvers });

const yoga = createYoga<object, BenchContext>({
  schema,
  logging: false,
  plugins: controller ? [useSessionControl(controller)] : [],
  context: ({ request }) => {
    const userId = request.headers.get('x-user');
    const sessionKey = request.headers.get('x-session');
    return { identity: userId && sessionKey ? { userId, sessionKey } : null };
  },
});
const server = createServer(yoga);
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
console.log(
  `yoga bench server at http://127.0.0.1:${(server.address() as AddressInfo).port}${yoga.graphqlEndpoint} (session control ${on ? 'on' : 'off'})`,
);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    server.closeAllConnections();
    server.close();
    void (controller?.close() ?? Promise.resolve()).then(
      () => process.exit(0),
      (error: unknown) => {
        console.error('yoga bench server: failed to stop cleanly:', error);
        process.exit(1);
      },
    );
  });
}
