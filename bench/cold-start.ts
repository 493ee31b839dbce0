/**
 * `npm run bench:cold-start` (issue 10 item 8): how long `SessionController.create()` takes and
 * how much memory the process holds right after, on the embedded database (the default) and on
 * PostgreSQL. Every run is a fresh `node` process that imports the built package (dist/, as an
 * installed package would be), so nothing is warm. Prints a table and the targets with PASS/FAIL.
 *
 * COLD_START_RUNS: runs per variant (default 3; the table shows the median).
 * COLD_START_NO_BUILD=1: use dist/ as it is instead of running `npm run build` first.
 * BENCH_DATABASE_URL: the PostgreSQL server (admin database) to create a scratch database on;
 * the PostgreSQL variant is skipped when it cannot be reached.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, renameSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { BenchDatabase } from './database.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ENTRY = new URL('../dist/src/index.js', import.meta.url).href;
const SNAPSHOT_DIR = fileURLToPath(new URL('../dist/embedded', import.meta.url));
const RUNS = Number(process.env.COLD_START_RUNS ?? 3);

const TARGET_CREATE_MS = 2_000;
const TARGET_RSS_MB = 250;

/** What one fresh process measures: import of the package, `create`, memory after `create`. */
interface Run {
  importMs: number;
  createMs: number;
  /** CPU time (user + system, all threads) spent in \`create\`: less sensitive to a busy machine than wall time. */
  createCpuMs: number;
  /** Resident set size right after `create` resolved. */
  rssMb: number;
  /** The process's peak resident set size up to then. */
  peakRssMb: number;
}

// The child: plain ESM, run by `node -e`, so no TypeScript loader is in the picture.
const CHILD = `
const started = performance.now();
const { SessionController } = await import(process.env.ENTRY);
const imported = performance.now();
const cpu = process.cpuUsage();
const database = process.env.DATABASE || undefined;
const sessions = await SessionController.create({ identify: () => null, database });
const created = performance.now();
const used = process.cpuUsage(cpu);
const rssMb = process.memoryUsage().rss / 1e6;
const peakRssMb = (process.resourceUsage().maxRSS * 1024) / 1e6;
await sessions.close();
console.log(JSON.stringify({ importMs: imported - started, createMs: created - imported, createCpuMs: (used.user + used.system) / 1e3, rssMb, peakRssMb }));
`;

function runOnce(database: string | undefined): Run {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', CHILD], {
    cwd: ROOT,
    env: { ...process.env, ENTRY, DATABASE: database ?? '' },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return JSON.parse(out.trim().split('\n').pop()!) as Run;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

interface Row {
  variant: string;
  runs: Run[];
  /** Whether the targets apply (the default configuration) or the row is for comparison. */
  judged: boolean;
}

function measure(variant: string, database: string | undefined, judged: boolean): Row {
  const runs: Run[] = [];
  for (let i = 0; i < RUNS; i++) {
    runs.push(runOnce(database));
    process.stdout.write('.');
  }
  return { variant, runs, judged };
}

/** The embedded variant without the packaged snapshot: what PGlite's initdb costs. */
function withoutSnapshot<T>(work: () => T): T {
  const aside = `${SNAPSHOT_DIR}.aside`;
  renameSync(SNAPSHOT_DIR, aside);
  try {
    return work();
  } finally {
    renameSync(aside, SNAPSHOT_DIR);
  }
}

async function main(): Promise<void> {
  if (process.env.COLD_START_NO_BUILD !== '1') {
    console.log('building (npm run build)…');
    execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
  }
  if (!existsSync(fileURLToPath(ENTRY))) throw new Error('dist/ is missing: run npm run build');
  const loadBefore = loadavg()[0];
  console.log(`${RUNS} fresh processes per variant, Node ${process.version}, ${cpus().length} CPUs`);

  const rows: Row[] = [];
  rows.push(measure('embedded, in memory (default)', undefined, true));
  if (existsSync(SNAPSHOT_DIR)) {
    rows.push(withoutSnapshot(() => measure('embedded, in memory, no snapshot (initdb)', undefined, false)));
  }
  let db: BenchDatabase | undefined;
  try {
    db = await BenchDatabase.create();
  } catch (error) {
    console.log(`\nPostgreSQL variant skipped: ${(error as Error).message}`);
  }
  if (db) {
    try {
      rows.push(measure('PostgreSQL', db.url, true));
    } finally {
      await db.drop();
    }
  }
  const loadAfter = loadavg()[0];
  console.log('\n');

  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  const range = (values: number[]) =>
    `${fmt(median(values))} (${fmt(Math.min(...values))}–${fmt(Math.max(...values))})`;
  console.log(
    '| variant | create ms, median (min–max) | CPU ms in create | RSS after create, MB | peak RSS, MB | import ms |',
  );
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const row of rows) {
    const pick = (k: keyof Run) => row.runs.map((r) => r[k]);
    console.log(
      `| ${row.variant} | ${range(pick('createMs'))} | ${fmt(median(pick('createCpuMs')))} | ${range(pick('rssMb'))} | ${range(pick('peakRssMb'))} | ${fmt(median(pick('importMs')))} |`,
    );
  }
  console.log(`\nload average (1 min): ${loadBefore.toFixed(1)} before, ${loadAfter.toFixed(1)} after\n`);

  console.log('| target | goal | measured | |');
  console.log('| --- | --- | --- | --- |');
  let failed = false;
  for (const row of rows.filter((r) => r.judged)) {
    const createMs = median(row.runs.map((r) => r.createMs));
    const peak = median(row.runs.map((r) => r.peakRssMb));
    for (const [what, goal, value, unit] of [
      ['create', TARGET_CREATE_MS, createMs, 'ms'],
      ['peak RSS', TARGET_RSS_MB, peak, 'MB'],
    ] as const) {
      const pass = value <= goal;
      failed ||= !pass;
      console.log(
        `| ${what}, ${row.variant} | ≤ ${fmt(goal)} ${unit} | ${fmt(value)} ${unit} | ${pass ? 'PASS' : 'FAIL'} |`,
      );
    }
  }
  process.exitCode = failed ? 1 : 0;
}

await main();
