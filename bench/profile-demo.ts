/**
 * The demo, started in-process through its own `startDemo(demoConfig(env))`, for a CPU profile
 * (`node --cpu-prof`). V8 writes the profile only when the process exits normally; this wrapper
 * stops on SIGUSR2, which Apollo Server does not handle itself (on SIGTERM its own handler and the
 * demo's both stop the server, and the demo process does not exit: see bench/results/history.md, "Found while benchmarking").
 */
import { startDemo } from '../demo/app.js';
import { demoConfig } from '../demo/config.js';

const demo = await startDemo(demoConfig(process.env));
console.log(`profiled demo at ${demo.url}`);
process.on('SIGUSR2', () => {
  demo.stop().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error('profiled demo: failed to stop cleanly:', error);
      process.exit(1);
    },
  );
});
