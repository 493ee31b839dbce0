/**
 * `npx tsx bench/yoga-hot-path-probe.ts`: Yoga's hot path without HTTP and without a load
 * generator sharing the CPU, the counterpart of bench/hot-path-probe.ts (Apollo). In one process,
 * in rounds whose order rotates, it sends `{ dashboard }` of one admitted, cached session through
 * `yoga.fetch` to three Yoga servers on one PostgreSQL database: with the envelop plugin ("on"),
 * without it ("off": Yoga without the library) and a second "off" (the A/A control), and reports
 * this process's CPU per request. Each request yields to the event loop, as a server's socket
 * does: without that, a loop of settled promises never lets the change feed's timers run, and
 * every session would go stale.
 *
 * PROBE_REQUESTS (default 5000) per variant and round, PROBE_ROUNDS (default 9).
 */
import { SessionController } from '../src/index.js';
import { BenchDatabase } from './database.js';
import { median } from './stats.js';
import { type BenchContext, benchYoga } from './yoga-app.js';

const REQUESTS = Number(process.env.PROBE_REQUESTS ?? 5_000);
const ROUNDS = Number(process.env.PROBE_ROUNDS ?? 9);
const headers = { 'content-type': 'application/json', 'x-user': 'alice', 'x-session': 'alice-probe' };

/** Microseconds of this process's CPU per request, over `REQUESTS` sequential requests. */
async function perRequest(yoga: ReturnType<typeof benchYoga>): Promise<number> {
  const started = process.cpuUsage();
  for (let i = 0; i < REQUESTS; i++) {
    const response = await yoga.fetch('http://probe/graphql', {
      method: 'POST',
      headers,
      body: '{"query":"{ dashboard }"}',
    });
    const body = await response.text();
    if (response.status !== 200 || body.includes('"errors"')) throw new Error(body);
    await new Promise((resolve) => setImmediate(resolve));
  }
  const used = process.cpuUsage(started);
  return (used.user + used.system) / REQUESTS;
}

const db = await BenchDatabase.create();
const controller = await SessionController.create<BenchContext>({
  database: db.url,
  identify: (ctx) => ctx.identity,
  idleTimeout: '30m',
});
try {
  const servers = { on: benchYoga(controller), off: benchYoga(), 'off (A/A)': benchYoga() };
  const labels = Object.keys(servers) as Array<keyof typeof servers>;
  // Warm-up: JIT, and the session admitted and cached.
  for (const label of labels) await perRequest(servers[label]);
  const samples = Object.fromEntries(labels.map((label) => [label, [] as number[]])) as Record<
    keyof typeof servers,
    number[]
  >;
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < labels.length; k++) {
      const label = labels[(k + round) % labels.length];
      samples[label].push(await perRequest(servers[label]));
    }
    console.log(
      `  round ${round + 1}/${ROUNDS}: ${labels.map((l) => `${l} ${samples[l].at(-1)!.toFixed(1)}`).join(', ')} µs/request`,
    );
  }
  const ratio = (label: keyof typeof servers) => samples.off.map((off, i) => off / samples[label][i]!);
  for (const label of labels) {
    const ratios = label === 'off' ? '' : `  ×off by CPU ${median(ratio(label)).toFixed(3)}`;
    console.log(
      `${label.padEnd(10)} ${median(samples[label]).toFixed(1)} µs/request (median of ${ROUNDS} rounds of ${REQUESTS})${ratios}`,
    );
  }
} finally {
  await controller.close();
  await db.drop();
}
