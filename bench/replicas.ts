/**
 * `npm run bench:replicas`: how much of the listings' load a read replica takes off the primary
 * (issue 19 item 5, docs/scaling.md "Read replicas for listings"). Not part of `npm run bench`.
 *
 * On a primary and one hot standby of its own (test/helpers/replication.ts, asynchronous
 * streaming replication, pg_stat_statements on both), seeded with SESSIONS active sessions of
 * USERS users, the same workload runs side by side, twice each, alternating: listings at
 * CONCURRENCY (a user's `activeSessions` page, the history with its count, the stats) with a
 * login every LOGIN_EVERY listings (so that read-your-writes has writes to wait for), on a
 * controller with `readReplicas: []` (primary only) and one with the standby. Reported per run:
 * listings per second and their p50/p95, the CPU time of the primary's and the standby's server
 * processes (/proc), and the primary's statements (pg_stat_statements: calls, execution time).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SessionController } from '../src/controller.js';
import { internalsOf } from '../test/helpers/internals.js';
import { childrenOf } from '../test/helpers/pg-cluster.js';
import { type PgNode, Replication } from '../test/helpers/replication.js';
import { quantile } from './stats.js';

const USERS = 2_000;
const SESSIONS = 20_000;
const CONCURRENCY = 8;
const SECONDS = 8;
const LOGIN_EVERY = 10;

/** Clock ticks per second of /proc's utime/stime. */
const TICKS = 100;

function ticks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

/** CPU ticks of a server: its postmaster and every process it started (backends, walsender, …). */
function serverTicks(node: PgNode): Map<number, number> {
  const pid = node.postmasterPid;
  const byPid = new Map<number, number>();
  if (!pid) return byPid;
  for (const p of [pid, ...childrenOf(pid)]) byPid.set(p, ticks(p));
  return byPid;
}

function cpuSeconds(before: Map<number, number>, after: Map<number, number>): number {
  let sum = 0;
  for (const [pid, t] of after) sum += t - (before.get(pid) ?? 0);
  return sum / TICKS;
}

async function statements(node: PgNode, pattern = ''): Promise<{ calls: number; ms: number }> {
  const [row] = await node.query<{ calls: string | null; ms: number | null }>(
    `select sum(s.calls)::text as calls, sum(s.total_exec_time) as ms
       from pg_stat_statements s join pg_database d on d.oid = s.dbid where d.datname = 'bench' and s.query ~ $1`,
    [pattern],
    'bench',
  );
  return { calls: Number(row.calls ?? 0), ms: Number(row.ms ?? 0) };
}

interface Result {
  mode: string;
  listings: number;
  perSecond: number;
  p50: number;
  p95: number;
  primaryCpu: number;
  standbyCpu: number;
  primaryCalls: number;
  primaryMs: number;
  /** Reads (a history page and its count are two) answered by the replica. */
  fromReplica: number;
  /** `pg_last_wal_replay_lsn()` checks on the standby: one per replica read when it had caught up already. */
  replayChecks: number;
}

async function run(set: Replication, standby: PgNode, mode: 'primary only' | 'with replica'): Promise<Result> {
  const controller = await SessionController.create({
    database: set.primary.url('bench'),
    identify: () => null,
    migrate: false,
    readReplicas: mode === 'with replica' ? [standby.url('bench')] : [],
  });
  try {
    const directory = controller.operations().directory;
    // Warm the pools and caches of both sides before measuring.
    for (let i = 0; i < 50; i++) await directory.listActive({ userId: `u${i}`, first: 20, after: null });
    await set.waitReplayed(standby);
    for (const node of [set.primary, standby]) await node.query('select pg_stat_statements_reset()', [], 'bench');
    const answeredBefore = { ...internalsOf(controller).store.replicas.answered };
    const primaryBefore = serverTicks(set.primary);
    const standbyBefore = serverTicks(standby);
    const latencies: number[] = [];
    let n = 0;
    const end = Date.now() + SECONDS * 1000;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (Date.now() < end) {
          const i = n++;
          const userId = `u${i % USERS}`;
          if (i % LOGIN_EVERY === 0) {
            await controller.openSession({ userId, sessionKey: `bench-${randomBytes(8).toString('hex')}` });
            continue;
          }
          const started = performance.now();
          if (i % 50 === 1) await directory.countActive();
          else if (i % 5 === 2) {
            await directory.list({ userId, statuses: null, ipAddress: null, first: 20, after: null });
            await directory.count({ userId, statuses: null, ipAddress: null });
          } else await directory.listActive({ userId, first: 20, after: null });
          latencies.push(performance.now() - started);
        }
      }),
    );
    const primaryCpu = cpuSeconds(primaryBefore, serverTicks(set.primary));
    const standbyCpu = cpuSeconds(standbyBefore, serverTicks(standby));
    const primary = await statements(set.primary);
    const replay = await statements(standby, 'pg_last_wal_replay_lsn');
    latencies.sort((a, b) => a - b);
    const answered = internalsOf(controller).store.replicas.answered;
    return {
      mode,
      listings: latencies.length,
      perSecond: latencies.length / SECONDS,
      p50: quantile(latencies, 0.5),
      p95: quantile(latencies, 0.95),
      primaryCpu,
      standbyCpu,
      primaryCalls: primary.calls,
      primaryMs: primary.ms,
      fromReplica: answered.replica - answeredBefore.replica,
      replayChecks: replay.calls,
    };
  } finally {
    await controller.close();
  }
}

async function main(): Promise<void> {
  const teardowns: Array<() => unknown> = [];
  try {
    const set = await Replication.start(
      { teardown: (fn) => teardowns.push(fn) },
      { standbys: 1, settings: { shared_preload_libraries: 'pg_stat_statements' } },
    );
    const [standby] = set.standbys;
    const url = await set.createDatabase('bench');
    await set.primary.query('create extension pg_stat_statements', [], 'bench');
    const seed = await SessionController.create({ database: url, identify: () => null });
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let i = next++; i < SESSIONS; i = next++) {
          await seed.openSession({ userId: `u${i % USERS}`, sessionKey: `seed-${i}` });
        }
      }),
    );
    await seed.close();
    await set.primary.query('vacuum analyze', [], 'bench');
    await set.waitReplayed(standby);
    console.log(
      `read replicas for listings: ${SESSIONS} sessions of ${USERS} users, ${CONCURRENCY} at once, ${SECONDS} s per run, a login every ${LOGIN_EVERY} operations`,
    );
    const results: Result[] = [];
    for (const mode of ['primary only', 'with replica', 'primary only', 'with replica'] as const) {
      const r = await run(set, standby, mode);
      results.push(r);
      console.log(
        `${r.mode.padEnd(13)} ${String(Math.round(r.perSecond)).padStart(6)} listings/s  p50 ${r.p50.toFixed(2)} ms  p95 ${r.p95.toFixed(2)} ms  ` +
          `primary CPU ${r.primaryCpu.toFixed(2)} s, ${r.primaryCalls} statements, ${Math.round(r.primaryMs)} ms executing  ` +
          `standby CPU ${r.standbyCpu.toFixed(2)} s  reads answered by the replica ${r.fromReplica}, ${r.replayChecks} replay checks`,
      );
    }
    const per = (mode: string, f: (r: Result) => number) => {
      const rs = results.filter((r) => r.mode === mode);
      return rs.reduce((s, r) => s + f(r), 0) / rs.length;
    };
    const cpuPerListing = (mode: string) => per(mode, (r) => (1000 * r.primaryCpu) / r.listings);
    const msPerListing = (mode: string) => per(mode, (r) => r.primaryMs / r.listings);
    console.log(
      `primary CPU per listing: ${cpuPerListing('primary only').toFixed(3)} ms without a replica, ${cpuPerListing('with replica').toFixed(3)} ms with one ` +
        `(${(cpuPerListing('with replica') / cpuPerListing('primary only')).toFixed(2)} x); ` +
        `primary statement time per listing: ${msPerListing('primary only').toFixed(3)} ms vs ${msPerListing('with replica').toFixed(3)} ms ` +
        `(${(msPerListing('with replica') / msPerListing('primary only')).toFixed(2)} x)`,
    );
  } finally {
    for (const fn of teardowns.reverse()) await fn();
  }
}

await main();
