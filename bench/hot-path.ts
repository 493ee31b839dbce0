/**
 * `npm run bench:hot`: only the hot path of `npm run bench` (scenario 1, target 13.4), for
 * working on it: the demo with the plugin on and off on one PostgreSQL database, driven in
 * alternating rounds, with the server's CPU per request. Minutes instead of the full run's ten.
 *
 * HOT_ROUNDS (default 12), HOT_SECONDS (default 3): rounds and seconds per variant and round.
 * HOT_CHECKOUTS: more variants, each a checkout of this repository (with its own node_modules),
 *   as `label=/path[:off],…`: two versions of the code side by side, or (this checkout again) a
 *   second "on" or "off" server, an A/A comparison that shows the method's own bias.
 * HOT_PROFILE=1: every server runs under `node --cpu-prof`; at the end each profile's self time
 *   is summarized per request, so that two variants can be compared function by function.
 * HOT_PIN=1: the servers pinned to core 1 and the load generator to core 0 (`taskset`), so that
 *   every server runs where the others ran.
 * HOT_PAIRED=1: instead of alternating, each round loads every variant and "off" at the same time,
 *   all the servers pinned to one core and the load generators to the other (`taskset`): the two
 *   share that core's time, so what the machine's host takes away (steal time) or gives back
 *   falls on both alike; each one's throughput then follows its CPU cost per request.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { cpuSnapshot, cpuUsage } from './cpu.js';
import { BenchDatabase, STATS_SETTLE_MS } from './database.js';
import { demoLogin } from './demo-login.js';
import { LoadGenerator, ROOT, type ServerProcess, startServer, stopAllChildren } from './processes.js';
import { summarizeProfile } from './profile.js';
import { iqr, runScenario, staticVariant, type Variant } from './scenario.js';
import { median } from './stats.js';

const rounds = Number(process.env.HOT_ROUNDS ?? 12);
const seconds = Number(process.env.HOT_SECONDS ?? 3);
const profiling = process.env.HOT_PROFILE === '1';
const paired = process.env.HOT_PAIRED === '1';
const checkouts = (process.env.HOT_CHECKOUTS ?? '')
  .split(',')
  .filter(Boolean)
  .map((pair) => {
    const [label, where] = pair.split('=');
    const [dir, control = 'on'] = (where ?? '').split(':');
    if (!label || !dir || (control !== 'on' && control !== 'off'))
      throw new Error(`HOT_CHECKOUTS: expected label=/path or label=/path:off, got ${JSON.stringify(pair)}`);
    return { label, dir, control: control as 'on' | 'off' };
  });
if (!(rounds >= 1 && seconds > 0)) throw new Error('HOT_ROUNDS must be ≥ 1 and HOT_SECONDS > 0');

const scratch = join(ROOT, 'bench', 'results', 'tmp', 'hot-path');
rmSync(scratch, { recursive: true, force: true });
mkdirSync(scratch, { recursive: true });

/** Requests each variant served in the measured rounds (the profiles are read per request). */
let requestsMeasured = new Map<string, number>();

const db = await BenchDatabase.create();
const secret = randomBytes(24).toString('base64url');
try {
  const servers: Array<{ label: string; server: ServerProcess; profileDir: string }> = [];
  const start = async (label: string, control: 'on' | 'off', cwd = ROOT) => {
    const profileDir = join(scratch, `${label}-profile`);
    const server = await startServer(
      `demo (${label})`,
      profiling ? 'bench/profile-demo.ts' : 'demo/server.ts',
      {
        DATABASE_URL: db.url,
        PORT: '0',
        // Several demos run at once: a free metrics port each.
        METRICS_PORT: '0',
        SESSION_CONTROL: control,
        DEMO_SECRET: secret,
        DEMO_DATA_DIR: join(scratch, label),
      },
      /demo at (\S+)/,
      profiling ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [],
      cwd,
    );
    // demo/server.ts prints the GraphQL endpoint, bench/profile-demo.ts the site's root.
    server.url = new URL('graphql', server.url.replace(/\/graphql$/, '/')).href;
    servers.push({ label, server, profileDir });
    return server;
  };
  // The first start applies the migrations; the rest find them applied.
  const on = await start('on', 'on');
  await start('off', 'off');
  for (const { label, dir, control } of checkouts) await start(label, control, dir);

  const token = await demoLogin(on.url, 'alice');
  const request = { headers: { authorization: `Bearer ${token}` }, body: JSON.stringify({ query: '{ dashboard }' }) };
  const load = await LoadGenerator.start();
  const variants: Variant[] = servers.map(({ label, server }) => staticVariant(label, server, request));
  if (process.env.HOT_PIN === '1') {
    for (const v of variants) pin(v.pid, 1);
    pin(load.pid, 0);
  }
  if (paired) await runPaired(variants, request, load);
  else await runAlternating(variants, load);
  if (profiling) {
    for (const { label, server, profileDir } of servers) {
      await server.stop('SIGUSR2');
      const summary = summarizeProfile(profileDir);
      console.log(`\nprofile of ${label}: ${summary.headline}\n${summary.text}`);
      console.log(`  ${label}: ${requestsMeasured.get(label)} requests measured`);
    }
  }
} finally {
  await stopAllChildren();
  await db.drop();
}

/** Binds a process and all its threads to one core. */
function pin(pid: number | undefined, core: number): void {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', String(core), String(pid)], { stdio: 'ignore' });
  } catch (error) {
    throw new Error(`HOT_PIN and HOT_PAIRED need taskset (util-linux) and 2 cores: ${(error as Error).message}`);
  }
}

async function runAlternating(variants: Variant[], load: LoadGenerator): Promise<void> {
  const result = await runScenario(
    load,
    db,
    variants,
    {
      name: 'hot path',
      connections: 10,
      durationS: seconds,
      rounds,
      warmupS: 3,
      accounting: false,
      settleMs: STATS_SETTLE_MS,
    },
    console.log,
  );
  console.log('\nvariant        req/s  ×off (IQR)              CPU µs/req  ×off by CPU (IQR)');
  for (const v of result.variants) {
    const iqr = (range: [number, number] | null | undefined) => (range ? `${range[0]}–${range[1]}` : '');
    console.log(
      `${v.label.padEnd(12)} ${String(Math.round(v.rps)).padStart(6)}  ${String(v.ratioToOff ?? '').padEnd(6)} ${iqr(v.ratioIqr).padEnd(16)}  ${String(v.serverCpuUsPerRequest).padStart(8)}    ${String(v.cpuRatioToOff ?? '').padEnd(6)} ${iqr(v.cpuRatioIqr)}`,
    );
  }
  requestsMeasured = new Map();
  for (const run of result.runs)
    requestsMeasured.set(run.variant, (requestsMeasured.get(run.variant) ?? 0) + run.responses);
}

async function runPaired(
  variants: Variant[],
  request: { headers: Record<string, string>; body: string },
  load: LoadGenerator,
): Promise<void> {
  const off = variants.find((v) => v.label === 'off')!;
  const second = await LoadGenerator.start();
  for (const v of variants) pin(v.pid, 1);
  pin(load.pid, 0);
  pin(second.pid, 0);
  const others = variants.filter((v) => v !== off);
  const ratios = new Map<string, number[]>(others.map((v) => [v.label, []]));
  const cpuRatios = new Map<string, number[]>(others.map((v) => [v.label, []]));
  const job = (v: Variant, durationS: number, generator: LoadGenerator) =>
    generator.run({ url: v.url, connections: 5, durationS, plan: { kind: 'static', ...request } });
  for (const v of others) await Promise.all([job(v, 3, load), job(off, 3, second)]);
  for (let r = 0; r < rounds; r++) {
    for (const v of others) {
      // Which generator drives which server alternates, in case the two generators differ.
      const [forV, forOff] = r % 2 ? [load, second] : [second, load];
      const before = cpuSnapshot([v.pid!, off.pid!]);
      const [a, b] = await Promise.all([job(v, seconds, forV), job(off, seconds, forOff)]);
      const used = cpuUsage(before, cpuSnapshot([v.pid!, off.pid!])).byPid;
      const cpuA = (used.get(v.pid!)! * 1e4) / a.rps;
      const cpuB = (used.get(off.pid!)! * 1e4) / b.rps;
      for (const [label, result] of [
        [v.label, a],
        [off.label, b],
      ] as const)
        requestsMeasured.set(label, (requestsMeasured.get(label) ?? 0) + result.responses);
      ratios.get(v.label)!.push(a.rps / b.rps);
      cpuRatios.get(v.label)!.push(cpuB / cpuA);
      console.log(
        `  round ${r + 1}/${rounds} ${v.label} ${Math.round(a.rps)} vs off ${Math.round(b.rps)} req/s (${(a.rps / b.rps).toFixed(3)}); CPU µs/req ${Math.round(cpuA)} vs ${Math.round(cpuB)}`,
      );
    }
  }
  await second.stop();
  console.log('\nvariant   ×off paired (IQR)        ×off by CPU (IQR)');
  for (const v of others) {
    const show = (xs: number[]) => {
      const [q1, q3] = iqr(xs)!;
      return `${median(xs).toFixed(3)} (${q1.toFixed(3)}–${q3.toFixed(3)})`;
    };
    console.log(`${v.label.padEnd(8)}  ${show(ratios.get(v.label)!).padEnd(24)} ${show(cpuRatios.get(v.label)!)}`);
  }
}
