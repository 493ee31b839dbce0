/**
 * The Yoga bench server: GraphQL Yoga with the envelop plugin (`YOGA_SESSION_CONTROL=on`) or
 * without it (`off`: the host without the library), schema-first, with the identity taken from
 * headers as bench/server.ts takes it. Prints `yoga bench server at <url>` when ready; SIGTERM and
 * SIGINT stop it cleanly (pending touches flushed). `DATABASE_URL`: the bench database.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SessionController } from '../src/index.js';
import { type BenchContext, benchYoga } from './yoga-app.js';

const on = process.env.YOGA_SESSION_CONTROL === 'on';
const controller = on
  ? await SessionController.create<BenchContext>({
      database: process.env.DATABASE_URL,
      identify: (ctx) => ctx.identity,
      idleTimeout: '30m',
    })
  : undefined;
const yoga = benchYoga(controller);
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
