// The fault drills of issue 9: `npm run drills` (ava --config drills/ava.config.js). Each drill
// starts a PostgreSQL cluster of its own (pg_createcluster; needs root or the postgres user) and
// drops it afterwards. They are kept out of `npm test`, whose files are test/**/*.test.ts.
// One file at a time, tests in a file serially: the drills measure latencies on a small machine.
export default {
  files: ['drills/**/*.test.ts'],
  extensions: { ts: 'module' },
  nodeArguments: ['--import=tsx'],
  workerThreads: false,
  concurrency: 1,
  timeout: '3m',
};
