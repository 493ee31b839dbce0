/**
 * `npx tsx bench/plugin-microprobe.ts`: the plugin's own hook, called directly in a loop (no
 * Apollo, no HTTP), for a cached session: the CPU the plugin adds to a hot-path request. Minimum
 * and median over rounds (on a shared machine the minimum is the steadier estimate).
 */
import { type OperationDefinitionNode, parse } from 'graphql';
import { SessionController } from '../src/controller.js';
import type { Identity } from '../src/identity.js';
import { hashSessionKey } from '../src/identity.js';
import { internalsOf } from '../test/helpers/internals.js';
import { BenchDatabase } from './database.js';

const N = 50_000;
const ROUNDS = 15;
const identity: Identity = {
  userId: 'alice',
  sessionKey: '2f1c3b9e-6f1e-4c1a-9d7a-0b4f1d9e8c11',
  groups: ['user'],
  ip: '127.0.0.1',
  userAgent: 'probe',
};
const db = await BenchDatabase.create();
try {
  const controller = await SessionController.create<{ identity: Identity }>({
    database: db.url,
    identify: (ctx) => ctx.identity,
    user: { maxSessions: 5 },
  });
  try {
    await controller.openSession(identity);
    const plugin = controller.plugin();
    const document = parse('{ dashboard }');
    const operation = document.definitions[0] as OperationDefinitionNode;
    const listener = (await (
      plugin.requestDidStart as () => Promise<Record<string, (a: unknown) => Promise<void>>>
    )())!;
    const hooks = async () => {
      const contextValue = { identity };
      // The one hook a request without errors reaches.
      await listener.didResolveOperation({ contextValue, operation, document });
    };
    const govern = async () => internalsOf(controller).sessions.govern({ identity });
    const hash = async () => hashSessionKey(identity.sessionKey);
    const samples: Record<string, number[]> = { hooks: [], govern: [], hash: [] };
    for (let r = 0; r < ROUNDS; r++) {
      for (const [name, run] of Object.entries({ hooks, govern, hash })) {
        const started = process.hrtime.bigint();
        for (let i = 0; i < N; i++) await run();
        samples[name].push(Number(process.hrtime.bigint() - started) / N / 1000);
      }
    }
    for (const [name, xs] of Object.entries(samples)) {
      xs.sort((a, b) => a - b);
      console.log(
        `${name.padEnd(7)} min ${xs[0].toFixed(2)} µs, median ${xs[Math.floor(xs.length / 2)].toFixed(2)} µs`,
      );
    }
  } finally {
    await controller.close();
  }
} finally {
  await db.drop();
}
