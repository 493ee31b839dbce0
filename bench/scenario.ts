import { setTimeout as sleep } from 'node:timers/promises';
import { cpuSnapshot, cpuUsage } from './cpu.js';
import { type BenchDatabase, STATS_SETTLE_MS } from './database.js';
import type { LoadJob, LoadResult, RequestPlan } from './load.js';
import type { LoadGenerator } from './processes.js';
import { median, quantile, round } from './stats.js';

/** One server configuration a scenario drives; the one named `off` is the baseline. */
export interface Variant {
  label: string;
  url: string;
  /** A fleet: the load is spread over these servers (`pid` then names none of them). */
  urls?: string[];
  /** The server's process, for its CPU use. */
  pid: number | undefined;
  /** Built per run, so each run can use fresh identities. */
  plan: (run: string) => RequestPlan;
}

/** A variant that sends the same request every time (the demo's hot path and `{ exam }`). */
export function staticVariant(
  label: string,
  server: { url: string; child: { pid?: number } },
  request: { headers: Record<string, string>; body: string },
): Variant {
  return { label, url: server.url, pid: server.child.pid, plan: () => ({ kind: 'static', ...request }) };
}

export interface RunRecord {
  variant: string;
  round: number;
  connections: number;
  durationS: number;
  rps: number;
  /** Responses without GraphQL errors per second (for logins: admissions per second). */
  okPerS: number;
  p50: number;
  p95: number;
  p99: number;
  responses: number;
  graphqlErrors: number;
  limitExceeded: number;
  transportErrors: number;
  non2xx: number;
  errorSample: string | null;
  /** Percent of one core used during the run by the server, the load generator and PostgreSQL (all its processes). */
  cpu: Cpu;
  /** Server CPU time per response, in microseconds: the plugin's cost, robust to how much CPU a shared machine gave the server. */
  serverCpuUsPerRequest: number;
}

export interface Cpu {
  server: number;
  load: number;
  postgres: number;
}

export interface VariantSummary {
  label: string;
  rounds: number;
  /** Medians over rounds. */
  rps: number;
  okPerS: number;
  p50: number;
  p95: number;
  p99: number;
  /** Medians over rounds of this variant's value divided by (minus) the baseline's in the same round. */
  ratioToOff: number | null;
  p50AddedMs: number | null;
  p99AddedMs: number | null;
  responses: number;
  graphqlErrors: number;
  transportErrors: number;
  non2xx: number;
  errorSample: string | null;
  /** Medians over rounds. */
  cpu: Cpu;
  serverCpuUsPerRequest: number;
  /** Median over rounds of the baseline's server CPU per request divided by this variant's: throughput if each got the same CPU. */
  cpuRatioToOff: number | null;
  /** Interquartile range of the per-round ratios: how much the machine moved them. */
  ratioIqr: [number, number] | null;
  cpuRatioIqr: [number, number] | null;
  /**
   * The same pairs restricted to rounds in which both servers got at least `STEADY_CPU`% of a core:
   * on a shared machine, the rounds where neither was starved by other processes.
   */
  steady: { pairs: number; ratioToOff: number; p99AddedMs: number } | null;
}

/** A server below this share of a core during a run was starved by other processes (see `steady`). */
export const STEADY_CPU = 75;

export interface Accounting {
  variant: string;
  /** Transactions (commits + rollbacks) of the bench database over the run and the settle after it. */
  transactions: number;
  responses: number;
  perRequest: number;
  /** `perRequest` minus the baseline's own `perRequest` (background of every server included in both). */
  netPerRequest: number | null;
}

export interface ScenarioOptions {
  name: string;
  connections: number;
  durationS: number;
  rounds: number;
  warmupS: number;
  /** Also count database transactions per request (one extra run per variant, settled). */
  accounting: boolean;
  settleMs: number;
}

export interface ScenarioResult {
  name: string;
  connections: number;
  durationS: number;
  runs: RunRecord[];
  variants: VariantSummary[];
  accounting: Accounting[];
  /** The machine's 1-minute load average before and after (set by the caller). */
  load1m?: { before: number; after: number };
}

function record(variant: string, roundNo: number, connections: number, result: LoadResult, cpu: Cpu): RunRecord {
  const non2xx = Object.entries(result.status).reduce((n, [code, count]) => (code.startsWith('2') ? n : n + count), 0);
  const seconds = result.responses / Math.max(result.rps, 1e-9);
  return {
    variant,
    round: roundNo,
    connections,
    durationS: round2(seconds),
    rps: round(result.rps, 1),
    // A refusal is both a non-2xx status and a body with errors: successes are counted, not derived.
    okPerS: round(result.ok / Math.max(seconds, 1e-9), 1),
    p50: round(result.latency.p50, 3),
    p95: round(result.latency.p95, 3),
    p99: round(result.latency.p99, 3),
    responses: result.responses,
    graphqlErrors: result.graphqlErrors,
    limitExceeded: result.limitExceeded,
    transportErrors: result.transportErrors,
    non2xx,
    errorSample: result.errorSample,
    cpu,
    serverCpuUsPerRequest: round(((cpu.server / 100) * 1e6) / Math.max(result.rps, 1e-9), 1),
  };
}

/** Runs one load job and measures the CPU the server, the load generator and PostgreSQL used meanwhile. */
async function measured(
  load: LoadGenerator,
  job: LoadJob,
  serverPid: number | undefined,
): Promise<{ result: LoadResult; cpu: Cpu }> {
  const pids = [serverPid ?? -1, load.pid ?? -1];
  const before = cpuSnapshot(pids);
  const result = await load.run(job);
  const usage = cpuUsage(before, cpuSnapshot(pids));
  return {
    result,
    cpu: {
      server: round(usage.byPid.get(serverPid ?? -1) ?? Number.NaN, 0),
      load: round(usage.byPid.get(load.pid ?? -1) ?? Number.NaN, 0),
      postgres: round(usage.postgres, 0),
    },
  };
}

const round2 = (v: number) => round(v, 2);

/**
 * Drives every variant in alternation: each round runs all of them, in an order that rotates
 * from round to round, so drift (JIT warm-up, table growth, a noisy neighbour) falls on all
 * variants alike. Ratios and added latencies are paired per round, then the median is taken.
 */
export async function runScenario(
  load: LoadGenerator,
  db: BenchDatabase,
  variants: Variant[],
  options: ScenarioOptions,
  log: (line: string) => void,
): Promise<ScenarioResult> {
  const runs: RunRecord[] = [];
  let serial = 0;
  const job = (variant: Variant, durationS: number, connections = options.connections) =>
    measured(
      load,
      {
        url: variant.url,
        ...(variant.urls ? { urls: variant.urls } : {}),
        connections,
        durationS,
        plan: variant.plan(`${options.name}-${variant.label}-${serial++}`),
      },
      variant.pid,
    );

  if (options.warmupS > 0) {
    for (const variant of variants) await job(variant, options.warmupS);
  }
  for (let r = 0; r < options.rounds; r++) {
    const order = variants.map((_, i) => variants[(i + r) % variants.length]);
    for (const variant of order) {
      const { result, cpu } = await job(variant, options.durationS);
      const run = record(variant.label, r + 1, options.connections, result, cpu);
      runs.push(run);
      log(
        `  ${options.name} round ${r + 1}/${options.rounds} ${variant.label.padEnd(14)} ${String(Math.round(run.rps)).padStart(6)} req/s  p50 ${run.p50.toFixed(2)} ms  p99 ${run.p99.toFixed(2)} ms` +
          `  cpu server ${run.cpu.server}% load ${run.cpu.load}% pg ${run.cpu.postgres}%` +
          (run.graphqlErrors || run.non2xx || run.transportErrors
            ? `  (errors: graphql ${run.graphqlErrors}, non-2xx ${run.non2xx}, transport ${run.transportErrors})`
            : ''),
      );
    }
  }

  const accounting: Accounting[] = [];
  if (options.accounting) {
    // PostgreSQL 15 publishes a backend's counters at most once a second, and an idle backend's
    // only after 10 s: so each accounting run is preceded and followed by a settle.
    await sleep(options.settleMs);
    let before = await db.transactions();
    for (const variant of variants) {
      const { result } = await job(variant, options.durationS);
      await sleep(options.settleMs);
      const after = await db.transactions();
      accounting.push({
        variant: variant.label,
        transactions: after - before,
        responses: result.responses,
        perRequest: (after - before) / Math.max(result.responses, 1),
        netPerRequest: null,
      });
      log(
        `  ${options.name} accounting ${variant.label.padEnd(14)} ${after - before} transactions / ${result.responses} requests`,
      );
      before = after;
    }
    const off = accounting.find((a) => a.variant === 'off');
    for (const a of accounting) a.netPerRequest = off ? a.perRequest - off.perRequest : null;
  }

  return {
    name: options.name,
    connections: options.connections,
    durationS: options.durationS,
    runs,
    variants: summarize(variants, runs),
    accounting,
  };
}

function steadyPairs(paired: RunRecord[], offIn: (round: number) => RunRecord | undefined): VariantSummary['steady'] {
  const steady = paired.filter((r) => r.cpu.server >= STEADY_CPU && offIn(r.round)!.cpu.server >= STEADY_CPU);
  if (!steady.length) return null;
  return {
    pairs: steady.length,
    ratioToOff: round(median(steady.map((r) => r.rps / offIn(r.round)!.rps)), 3),
    p99AddedMs: round(median(steady.map((r) => r.p99 - offIn(r.round)!.p99)), 3),
  };
}

/** The interquartile range of `values` (rounded to 3 places); `null` for none. */
export function iqr(values: number[]): [number, number] | null {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return [round(quantile(sorted, 0.25), 3), round(quantile(sorted, 0.75), 3)];
}

function summarize(variants: Variant[], runs: RunRecord[]): VariantSummary[] {
  const off = runs.filter((r) => r.variant === 'off');
  const offIn = (round: number) => off.find((r) => r.round === round);
  return variants.map(({ label }) => {
    const mine = runs.filter((r) => r.variant === label);
    const paired = label === 'off' ? [] : mine.filter((r) => offIn(r.round));
    const sum = (key: 'responses' | 'graphqlErrors' | 'transportErrors' | 'non2xx') =>
      mine.reduce((n, r) => n + r[key], 0);
    return {
      label,
      rounds: mine.length,
      rps: round(median(mine.map((r) => r.rps)), 1),
      okPerS: round(median(mine.map((r) => r.okPerS)), 1),
      p50: round(median(mine.map((r) => r.p50)), 3),
      p95: round(median(mine.map((r) => r.p95)), 3),
      p99: round(median(mine.map((r) => r.p99)), 3),
      ratioToOff: paired.length ? round(median(paired.map((r) => r.rps / offIn(r.round)!.rps)), 3) : null,
      p50AddedMs: paired.length ? round(median(paired.map((r) => r.p50 - offIn(r.round)!.p50)), 3) : null,
      p99AddedMs: paired.length ? round(median(paired.map((r) => r.p99 - offIn(r.round)!.p99)), 3) : null,
      responses: sum('responses'),
      graphqlErrors: sum('graphqlErrors'),
      transportErrors: sum('transportErrors'),
      non2xx: sum('non2xx'),
      errorSample: mine.find((r) => r.errorSample)?.errorSample ?? null,
      serverCpuUsPerRequest: round(median(mine.map((r) => r.serverCpuUsPerRequest)), 1),
      cpuRatioToOff: paired.length
        ? round(median(paired.map((r) => offIn(r.round)!.serverCpuUsPerRequest / r.serverCpuUsPerRequest)), 3)
        : null,
      ratioIqr: iqr(paired.map((r) => r.rps / offIn(r.round)!.rps)),
      steady: steadyPairs(paired, offIn),
      cpuRatioIqr: iqr(paired.map((r) => offIn(r.round)!.serverCpuUsPerRequest / r.serverCpuUsPerRequest)),
      cpu: {
        server: median(mine.map((r) => r.cpu.server)),
        load: median(mine.map((r) => r.cpu.load)),
        postgres: median(mine.map((r) => r.cpu.postgres)),
      },
    };
  });
}

/** One measurement at a fixed, moderate concurrency: the latency of a single operation. */
export async function measureOnce(
  load: LoadGenerator,
  server: { url: string; pid: number | undefined },
  plan: RequestPlan,
  connections: number,
  durationS: number,
): Promise<RunRecord> {
  const { result, cpu } = await measured(load, { url: server.url, connections, durationS, plan }, server.pid);
  return record('on', 1, connections, result, cpu);
}

export { STATS_SETTLE_MS };
