/**
 * The Yoga app the Yoga benches measure (bench/yoga-server.ts over HTTP, bench/yoga-hot-path-probe.ts
 * in process): one plain field, `dashboard`, with the identity taken from headers as
 * bench/server.ts takes it; with the envelop plugin when a controller is given, else the host
 * without the library.
 */
import { createSchema, createYoga } from 'graphql-yoga';
import { useSessionControl } from '../src/envelop.js';
import type { Identity, SessionController } from '../src/index.js';

export interface BenchContext {
  identity: Identity | null;
}

const typeDefs = /* GraphQL */ `
  type Query {
    "A plain field: what the hot path reads."
    dashboard: String!
  }
`;
const resolvers = {
  Query: { dashboard: (_: unknown, __: unknown, ctx: BenchContext) => `Welcome ${ctx.identity?.userId ?? 'guest'}` },
};

export function benchYoga(controller?: SessionController<BenchContext>) {
  const schema = controller
    ? controller.transformSchema(
        createSchema<BenchContext>({
          typeDefs: [controller.typeDefs, typeDefs],
          resolvers: [controller.resolverMap, resolvers],
        }),
      )
    : createSchema<BenchContext>({ typeDefs, resolvers });
  return createYoga<object, BenchContext>({
    schema,
    logging: false,
    plugins: controller ? [useSessionControl(controller)] : [],
    context: ({ request }) => {
      const userId = request.headers.get('x-user');
      const sessionKey = request.headers.get('x-session');
      return { identity: userId && sessionKey ? { userId, sessionKey } : null };
    },
  });
}
