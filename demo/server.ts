/** `npm start`: the demo of docs/contract.md §7. Ctrl-C (SIGINT) or SIGTERM stops it cleanly. */
import { startDemo } from './app.js';
import { demoConfig } from './config.js';

const config = demoConfig();
// Answer as production would unless DEMO_DEBUG=1 asks otherwise. Apollo's own answers are set in
// app.ts; NODE_ENV also decides whether the HTTP layer under Apollo's standalone server (its
// body parser's error page, e.g. for a body that is not JSON) shows a stack trace.
if (!config.debug && !process.env.NODE_ENV) process.env.NODE_ENV = 'production';
const demo = await startDemo(config);
// Before the line that says the demo is up: whoever waits for that line finds this one too.
console.log(demo.metricsUrl ? `metrics at ${demo.metricsUrl}` : 'metrics off (METRICS_PORT=off)');
const where = config.databaseUrl ? 'PostgreSQL (DATABASE_URL)' : `embedded PostgreSQL in ${config.dataDir}/pglite`;
console.log(
  `graphql-session-controller demo at ${new URL('graphql', demo.url)} on ${where}; session control ${config.sessionControl ? 'on' : 'off'}; web page at ${demo.url}`,
);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: stopping (flushing pending session touches)`);
    demo.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        // e.g. "2 last-seen touch(es) lost: …" when the store stayed away through the deadline.
        console.error(`failed to stop cleanly: ${error instanceof Error ? error.message : String(error)}`);
        process.exit(1);
      },
    );
  });
}
