/**
 * `npm run bench:yoga`: Yoga's hot path (issue 21; the Apollo one is `npm run bench:hot`, target
 * 13.4): one signed-in session reading a plain field, on GraphQL Yoga with the envelop plugin
 * ("on") and without it ("off"), plus a second "off" server (the A/A control: its ratio to "off"
 * is the method's own error), driven side by side in alternating rounds by bench/scenario.ts, with
 * the servers' CPU per request. Target: on ≥ 0.97 × off.
 *
 * HOT_ROUNDS (default 12), HOT_SECONDS (default 3): rounds and seconds per variant and round.
 * HOT_WARMUP (default 10): seconds of load per server before the rounds (Yoga's JIT warms slowly).
 */
import { BenchDatabase, STATS_SETTLE_MS } from './database.js';
import { LoadGenerator, startServer, stopAllChildren } from './processes.js';
import { runScenario, staticVariant } from './scenario.js';

const rounds = Number(process.env.HOT_ROUNDS ?? 12);
const seconds = Number(process.env.HOT_SECONDS ?? 3);
const warmupS = Number(process.env.HOT_WARMUP ?? 10);
if (!(rounds >= 1 && seconds > 0)) throw new Error('HOT_ROUNDS must be ≥ 1 and HOT_SECONDS > 0');

const db = await BenchDatabase.create();
try {
  const start = (label: string, control: 'on' | 'off') =>
    startServer(
      `yoga (${label})`,
      'bench/yoga-server.ts',
      { DATABASE_URL: db.url, YOGA_SESSION_CONTROL: control },
      /yoga bench server at (\S+)/,
    );
  // The "on" server starts first: it applies the migrations.
  const servers = [
    { label: 'on', server: await start('on', 'on') },
    { label: 'off', server: await start('off', 'off') },
    { label: 'off (A/A)', server: await start('off (A/A)', 'off') },
  ];
  const request = {
    headers: { 'x-user': 'alice', 'x-session': 'alice-hot-path' },
    body: JSON.stringify({ query: '{ dashboard }' }),
  };
  const load = await LoadGenerator.start();
  const result = await runScenario(
    load,
    db,
    servers.map(({ label, server }) => staticVariant(label, server, request)),
    {
      name: 'yoga hot path',
      connections: 10,
      durationS: seconds,
      rounds,
      warmupS,
      accounting: false,
      settleMs: STATS_SETTLE_MS,
    },
    console.log,
  );
  console.log('\nvariant        req/s  ×off (IQR)              CPU µs/req  ×off by CPU (IQR)   errors');
  for (const v of result.variants) {
    const iqr = (range: [number, number] | null | undefined) => (range ? `${range[0]}–${range[1]}` : '');
    console.log(
      `${v.label.padEnd(12)} ${String(Math.round(v.rps)).padStart(6)}  ${String(v.ratioToOff ?? '').padEnd(6)} ${iqr(v.ratioIqr).padEnd(16)}  ${String(v.serverCpuUsPerRequest).padStart(8)}    ${String(v.cpuRatioToOff ?? '').padEnd(6)} ${iqr(v.cpuRatioIqr).padEnd(12)}  ${v.graphqlErrors + v.non2xx + v.transportErrors}`,
    );
  }
  const on = result.variants.find((v) => v.label === 'on')!;
  console.log(
    `\nhot path on/off ≥ 0.97 ×: ${on.ratioToOff} × (by CPU ${on.cpuRatioToOff} ×) ${(on.ratioToOff ?? 0) >= 0.97 ? 'PASS' : 'FAIL'}`,
  );
} finally {
  await stopAllChildren();
  await db.drop();
}
