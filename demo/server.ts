/** `npm start`: the demo of docs/contract.md §7. Ctrl-C (SIGINT) or SIGTERM stops it cleanly. */
import { startDemo } from './app.js';
import { demoConfig } from './config.js';

const config = demoConfig();
const demo = await startDemo(config);
const where = config.databaseUrl ? 'PostgreSQL (DATABASE_URL)' : `embedded PostgreSQL in ${config.dataDir}/pglite`;
console.log(`graphql-session-controller demo at ${new URL('graphql', demo.url)} on ${where}; session control ${config.sessionControl ? 'on' : 'off'}`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: stopping (flushing pending session touches)`);
    demo.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error('failed to stop cleanly:', error);
        process.exit(1);
      },
    );
  });
}
