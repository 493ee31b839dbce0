/**
 * `npx tsx bench/hot-path-probe.ts`: the plugin's CPU cost per hot-path request, without HTTP and
 * without a load generator sharing the CPU (docs/benchmark.md). In one process, alternating, it
 * runs `{ dashboard }` through `ApolloServer.executeOperation` as an admitted, cached session,
 * with the plugin (enabled), with the kill switch (`enabled: false`), and with a no-op plugin that
 * has the same two hooks (what Apollo's hook dispatch alone costs); and times
 * the session runtime's `govern` alone and the SHA-256 of the key alone.
 */
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { makeExecutableSchema } from '@graphql-tools/schema';
import { hashSessionKey, type Identity, SessionController } from '../src/index.js';
import { internalsOf } from '../test/helpers/internals.js';
import { BenchDatabase } from './database.js';
import { median } from './stats.js';

interface Context {
  identity: Identity | null;
}

const OPERATIONS = 20_000;
const ROUNDS = 9;
const identity: Identity = {
  userId: 'alice',
  sessionKey: '2f1c3b9e-6f1e-4c1a-9d7a-0b4f1d9e8c11',
  groups: ['user'],
  ip: '127.0.0.1',
  userAgent: 'probe',
};

const schema = () =>
  makeExecutableSchema({
    typeDefs: 'type Query { dashboard: String! }',
    resolvers: { Query: { dashboard: (_: unknown, __: unknown, ctx: Context) => `Welcome ${ctx.identity?.userId}` } },
  });

/** The plugin's shape (an async `requestDidStart` returning `didResolveOperation`) doing nothing. */
const noopHooks: ApolloServerPlugin<Context> = {
  async requestDidStart() {
    return {
      async didResolveOperation() {},
    };
  },
};

async function server(db: BenchDatabase, enabled: boolean, plugin?: ApolloServerPlugin<Context>) {
  const controller = await SessionController.create<Context>({
    database: db.url,
    identify: (ctx) => ctx.identity,
    user: { maxSessions: 5 },
    idleTimeout: '30m',
    enabled,
  });
  const apollo = new ApolloServer<Context>({
    schema: schema(),
    plugins: [plugin ?? controller.plugin()],
    stopOnTerminationSignals: false,
  });
  await apollo.start();
  return { controller, apollo };
}

/**
 * Microseconds of this process's CPU per operation over `OPERATIONS` sequential operations. CPU
 * time, not wall time: on a virtual machine whose host takes the CPU away (steal time, 30–40 %
 * seen here under load), wall time counts the host's turns too.
 */
async function perOperation(run: () => Promise<unknown>): Promise<number> {
  const started = process.cpuUsage();
  for (let i = 0; i < OPERATIONS; i++) await run();
  const used = process.cpuUsage(started);
  return (used.user + used.system) / OPERATIONS;
}

const db = await BenchDatabase.create();
try {
  const on = await server(db, true);
  const off = await server(db, false);
  const noop = await server(db, false, noopHooks);
  try {
    await on.controller.openSession(identity);
    const query = { query: '{ dashboard }' };
    const execute = (apollo: ApolloServer<Context>) => async () => {
      const response = await apollo.executeOperation(query, { contextValue: { identity } });
      if (response.body.kind !== 'single' || response.body.singleResult.errors)
        throw new Error(JSON.stringify(response.body));
    };
    // Warm-up: JIT and the session cache.
    await perOperation(execute(on.apollo));
    await perOperation(execute(off.apollo));
    await perOperation(execute(noop.apollo));
    const samples = {
      on: [] as number[],
      off: [] as number[],
      noop: [] as number[],
      handle: [] as number[],
      hash: [] as number[],
    };
    const apollo = { on: on.apollo, off: off.apollo, noop: noop.apollo };
    const kinds = ['on', 'off', 'noop'] as const;
    for (let round = 0; round < ROUNDS; round++) {
      for (let k = 0; k < kinds.length; k++) {
        const which = kinds[(k + round) % kinds.length];
        samples[which].push(await perOperation(execute(apollo[which])));
      }
      samples.handle.push(await perOperation(async () => internalsOf(on.controller).sessions.govern({ identity })));
      samples.hash.push(await perOperation(async () => hashSessionKey(identity.sessionKey)));
    }
    const m = (xs: number[]) => median(xs).toFixed(2);
    const ratios = samples.on.map((v, i) => samples.off[i] / v);
    console.log(
      `executeOperation { dashboard }, plugin on : ${m(samples.on)} µs/operation (median of ${ROUNDS} rounds of ${OPERATIONS})`,
    );
    console.log(`executeOperation { dashboard }, plugin off: ${m(samples.off)} µs/operation`);
    console.log(`executeOperation { dashboard }, no-op plugin with the same hooks: ${m(samples.noop)} µs/operation`);
    console.log(
      `added by the plugin: ${(median(samples.on) - median(samples.off)).toFixed(2)} µs/operation; throughput ratio on/off ${median(ratios).toFixed(3)} (per-round ${ratios.map((r) => r.toFixed(3)).join(', ')})`,
    );
    console.log(
      `sessions.govern alone (cached session): ${m(samples.handle)} µs; SHA-256 of the key alone: ${m(samples.hash)} µs`,
    );
  } finally {
    await on.apollo.stop();
    await off.apollo.stop();
    await noop.apollo.stop();
    await on.controller.close();
    await off.controller.close();
    await noop.controller.close();
  }
} finally {
  await db.drop();
}
