/**
 * The WebSocket scenario (issues 11 and 17), side by side in one run:
 * - N open sockets with one subscription each, the library on against off (memory per socket and
 *   server CPU);
 * - 10,000 idle sockets (connected, no subscription) on one instance, governed against
 *   ungoverned: memory per socket (target: governed ≤ 1.5×), and, with them all open, how fast a
 *   revoked session's socket closes (target: p99 ≤ 100 ms, from the revocation's start);
 * - 1,000 users, one socket each, spread over two instances, revoked at once: every socket closed
 *   within 1 s of the first revocation.
 * Each target prints PASS or FAIL.
 *
 *   npm run bench:ws                  # PostgreSQL at BENCH_DATABASE_URL (default 127.0.0.1:5432)
 *   WS_SOCKETS=1000,5000 WS_IDLE_SOCKETS=10000 npm run bench:ws
 *
 * 10,000 sockets need 10,000 file descriptors in this process and in the server's: `ulimit -n`
 * must be above that (e.g. `ulimit -n 20000`); the bench says so at start if it is not.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { type Client, createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { SessionController } from '../src/index.js';
import { cpuSnapshot, cpuUsage } from './cpu.js';
import { BenchDatabase } from './database.js';
import { ROOT } from './processes.js';
import { median, quantile, round } from './stats.js';

const SOCKET_COUNTS = (process.env.WS_SOCKETS ?? '1000,5000').split(',').map(Number);
const STEADY_MS = 5_000;
const MASS_USERS = 1_000;
const OPEN_BATCH = 25;
const IDLE_SOCKETS = Number(process.env.WS_IDLE_SOCKETS ?? 10_000);
/** Revocations measured one at a time while the idle sockets are open. */
const LATENCY_REVOCATIONS = 200;
const TARGETS = { idleMemoryRatio: 1.5, revokeP99Ms: 100, massCloseMs: 1_000 };

interface WsServer {
  child: ChildProcess;
  url: string;
  rss(): Promise<number>;
  stop(): Promise<void>;
}

async function startServer(databaseUrl: string, control: 'on' | 'off'): Promise<WsServer> {
  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', 'bench/ws-server.ts'], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: databaseUrl, SESSION_CONTROL: control, NODE_ENV: 'production' },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const waiting: Array<(line: string) => void> = [];
  lines.on('line', (line) => waiting.shift()?.(line));
  const next = () => new Promise<string>((resolve) => waiting.push(resolve));
  const ready = await next();
  const port = /^READY (\d+)$/.exec(ready)?.[1];
  if (!port) throw new Error(`ws bench server did not start: ${ready}`);
  return {
    child,
    url: `ws://127.0.0.1:${port}/graphql`,
    rss: async () => {
      child.stdin!.write('rss\n');
      return Number((await next()).slice('RSS '.length));
    },
    stop: async () => {
      child.stdin!.write('stop\n');
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}

interface Socket {
  client: Client;
  closed: Promise<{ code: number; reason: string; at: number }>;
}

/**
 * Opens a socket and waits for the acknowledgement; with `subscribe`, also for the first event of
 * one subscription (a device in use), else it stays idle (a device open, nothing subscribed).
 */
async function openSocketWith(url: string, user: string, key: string, subscribe: boolean): Promise<Socket> {
  let onClosed!: (c: { code: number; reason: string; at: number }) => void;
  const closed = new Promise<{ code: number; reason: string; at: number }>((resolve) => {
    onClosed = resolve;
  });
  let onConnected!: () => void;
  const connected = new Promise<void>((resolve) => {
    onConnected = resolve;
  });
  const client = createClient({
    url,
    webSocketImpl: WebSocket,
    connectionParams: { user, key },
    lazy: false,
    retryAttempts: 0,
    onNonLazyError: () => {},
    on: {
      connected: () => onConnected(),
      closed: (event) => {
        const { code, reason } = event as { code: number; reason: string };
        onClosed({ code, reason: String(reason), at: performance.now() });
      },
    },
  });
  if (!subscribe) {
    await connected;
    return { client, closed };
  }
  await new Promise<void>((resolve, reject) => {
    client.subscribe({ query: 'subscription { pulse }' }, { next: () => resolve(), error: reject, complete: () => {} });
  });
  return { client, closed };
}

const openSocket = (url: string, user: string, key: string) => openSocketWith(url, user, key, true);
const openIdleSocket = (url: string, user: string, key: string) => openSocketWith(url, user, key, false);

async function openMany(
  url: string,
  count: number,
  keyOf: (i: number) => [string, string],
  open: typeof openSocket = openSocket,
): Promise<Socket[]> {
  const sockets: Socket[] = [];
  // A few dozen at a time: each is an admission, and the bench measures sockets, not a login storm.
  for (let i = 0; i < count; i += OPEN_BATCH) {
    const batch = Array.from({ length: Math.min(OPEN_BATCH, count - i) }, (_, j) => open(url, ...keyOf(i + j)));
    sockets.push(...(await Promise.all(batch)));
  }
  return sockets;
}

async function closeAll(sockets: Socket[]): Promise<void> {
  await Promise.all(sockets.map((s) => s.client.dispose()));
}

interface SteadyResult {
  sockets: number;
  control: 'on' | 'off';
  bytesPerSocket: number;
  serverCpuPercent: number;
}

async function steady(db: BenchDatabase, sockets: number, control: 'on' | 'off'): Promise<SteadyResult> {
  progress(`${sockets} sockets with a subscription, library ${control}`);
  const server = await startServer(db.url, control);
  try {
    const before = await server.rss();
    // Distinct users: each socket is one session of its own.
    const open = await openMany(server.url, sockets, (i) => [
      `ws-${control}-${sockets}-${i}`,
      `key-${control}-${sockets}-${i}`,
    ]);
    const cpuBefore = cpuSnapshot([server.child.pid!]);
    await new Promise((resolve) => setTimeout(resolve, STEADY_MS));
    const cpu = cpuUsage(cpuBefore, cpuSnapshot([server.child.pid!])).byPid.get(server.child.pid!) ?? 0;
    const after = await server.rss();
    await closeAll(open);
    return {
      sockets,
      control,
      bytesPerSocket: Math.round((after - before) / sockets),
      serverCpuPercent: round(cpu, 1),
    };
  } finally {
    await server.stop();
  }
}

interface IdleResult {
  sockets: number;
  bytesPerSocket: { off: number; on: number };
  /** With every idle socket open: from a revocation's start to its socket's close. */
  revokeMs: { p50: number; p99: number; max: number; count: number };
}

/** Memory of `IDLE_SOCKETS` idle sockets, ungoverned then governed; with the governed ones open, revocations one by one. */
async function idleSockets(db: BenchDatabase): Promise<IdleResult> {
  const bytesPerSocket = { off: 0, on: 0 };
  let revokeMs: IdleResult['revokeMs'] = { p50: 0, p99: 0, max: 0, count: 0 };
  for (const control of ['off', 'on'] as const) {
    progress(`${IDLE_SOCKETS} idle sockets, ${control === 'on' ? 'governed' : 'ungoverned'}`);
    const server = await startServer(db.url, control);
    const revoker = await SessionController.create({ database: db.url, identify: () => null });
    try {
      const before = await server.rss();
      const keyOf = (i: number): [string, string] => [`idle-${control}-${i}`, `idle-key-${control}-${i}`];
      const open = await openMany(server.url, IDLE_SOCKETS, keyOf, openIdleSocket);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      bytesPerSocket[control] = Math.round(((await server.rss()) - before) / IDLE_SOCKETS);
      if (control === 'on') {
        const delays: number[] = [];
        for (let n = 0; n < LATENCY_REVOCATIONS; n++) {
          const i = Math.floor((n * IDLE_SOCKETS) / LATENCY_REVOCATIONS);
          const started = performance.now();
          await revoker.revokeUser(keyOf(i)[0], { reason: 'ADMIN_REVOKED' });
          delays.push((await open[i].closed).at - started);
        }
        delays.sort((x, y) => x - y);
        revokeMs = {
          p50: round(quantile(delays, 0.5), 1),
          p99: round(quantile(delays, 0.99), 1),
          max: round(delays[delays.length - 1], 1),
          count: delays.length,
        };
      }
      await closeAll(open);
    } finally {
      await revoker.close();
      await server.stop();
    }
  }
  return { sockets: IDLE_SOCKETS, bytesPerSocket, revokeMs };
}

/** MASS_USERS users with one socket each, half on each instance, all revoked at once. */
async function massRevocation(db: BenchDatabase): Promise<{
  closeAllMs: number;
  revokedMs: number;
  medianMs: number;
  afterCommitMaxMs: number;
  codes: Record<string, number>;
}> {
  progress(`${MASS_USERS} users on 2 instances, revoked at once`);
  const [a, b] = [await startServer(db.url, 'on'), await startServer(db.url, 'on')];
  const revoker = await SessionController.create({ database: db.url, identify: () => null });
  try {
    const users = (i: number): [string, string] => [`mass-${i}`, `mass-key-${i}`];
    const sockets = [
      ...(await openMany(a.url, MASS_USERS / 2, users)),
      ...(await openMany(b.url, MASS_USERS / 2, (i) => users(MASS_USERS / 2 + i))),
    ];
    const started = performance.now();
    // At once: one revokeUsers call, one statement (1,000 revokeUser calls are bound by commit latency).
    await revoker.revokeUsers(Array.from({ length: MASS_USERS }, (_, i) => users(i)[0]));
    const committed = performance.now();
    const revokedMs = Math.round(performance.now() - started);
    const closed = await Promise.all(sockets.map((s) => s.closed));
    const delays = closed.map((c) => c.at - started);
    const afterCommit = closed.map((c) => c.at - committed);
    const codes: Record<string, number> = {};
    for (const c of closed) codes[`${c.code} ${c.reason}`] = (codes[`${c.code} ${c.reason}`] ?? 0) + 1;
    await closeAll(sockets);
    return {
      closeAllMs: Math.round(Math.max(...delays)),
      revokedMs,
      medianMs: Math.round(median(delays)),
      afterCommitMaxMs: Math.round(Math.max(...afterCommit)),
      codes,
    };
  } finally {
    await revoker.close();
    await Promise.all([a.stop(), b.stop()]);
  }
}

export interface WebSocketBenchResult {
  steady: SteadyResult[];
  idle: IdleResult;
  mass: Awaited<ReturnType<typeof massRevocation>>;
}

export async function runWebSocketBench(): Promise<WebSocketBenchResult> {
  const db = await BenchDatabase.create();
  try {
    // Migrate once, so the servers start on a ready database.
    await (await SessionController.create({ database: db.url, identify: () => null })).close();
    const results: SteadyResult[] = [];
    for (const count of SOCKET_COUNTS) {
      for (const control of ['off', 'on'] as const) results.push(await steady(db, count, control));
    }
    const idle = await idleSockets(db);
    return { steady: results, idle, mass: await massRevocation(db) };
  } finally {
    await db.drop();
  }
}

export function printWebSocketBench(result: WebSocketBenchResult): void {
  console.log('\nWebSocket: N open sockets, one subscription each (library off vs on, same run)');
  console.log('| sockets | memory per socket off | on | added | server CPU off | on |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const count of SOCKET_COUNTS) {
    const off = result.steady.find((r) => r.sockets === count && r.control === 'off')!;
    const on = result.steady.find((r) => r.sockets === count && r.control === 'on')!;
    const kb = (b: number) => `${round(b / 1024, 1)} kB`;
    console.log(
      `| ${count} | ${kb(off.bytesPerSocket)} | ${kb(on.bytesPerSocket)} | ${kb(on.bytesPerSocket - off.bytesPerSocket)} | ${off.serverCpuPercent}% | ${on.serverCpuPercent}% |`,
    );
  }
  const { idle, mass } = result;
  const verdict = (ok: boolean) => (ok ? 'PASS' : 'FAIL');
  const ratio = idle.bytesPerSocket.on / idle.bytesPerSocket.off;
  const kb = (b: number) => `${round(b / 1024, 1)} kB`;
  console.log(
    `\nidle sockets: ${idle.sockets} open on one instance, memory per socket ungoverned ${kb(idle.bytesPerSocket.off)}, ` +
      `governed ${kb(idle.bytesPerSocket.on)} = ${round(ratio, 2)} x (target ≤ ${TARGETS.idleMemoryRatio} x): ${verdict(ratio <= TARGETS.idleMemoryRatio)}`,
  );
  console.log(
    `revocation with ${idle.sockets} idle sockets open: ${idle.revokeMs.count} sessions revoked one by one, their socket closed ` +
      `p50 ${idle.revokeMs.p50} ms, p99 ${idle.revokeMs.p99} ms, max ${idle.revokeMs.max} ms after the revocation started ` +
      `(target p99 ≤ ${TARGETS.revokeP99Ms} ms): ${verdict(idle.revokeMs.p99 <= TARGETS.revokeP99Ms)}`,
  );
  console.log(
    `mass revocation: ${MASS_USERS} users (one socket each, 2 instances) revoked at once by one revokeUsers call, committed in ${mass.revokedMs} ms; ` +
      `the last socket closed ${mass.closeAllMs} ms after the first revocation started (median ${mass.medianMs} ms); ` +
      `each socket within ${mass.afterCommitMaxMs} ms of the commit (target ≤ ${TARGETS.massCloseMs} ms): ` +
      `${verdict(mass.afterCommitMaxMs <= TARGETS.massCloseMs)}; all within ${TARGETS.massCloseMs} ms of the first: ` +
      `${verdict(mass.closeAllMs <= TARGETS.massCloseMs)}; close codes ${JSON.stringify(mass.codes)}`,
  );
}

if (process.argv[1]?.endsWith('websocket.ts')) {
  const limit = openFileLimit();
  if (limit !== undefined && limit < IDLE_SOCKETS + 1_000) {
    console.error(
      `ulimit -n is ${limit}: ${IDLE_SOCKETS} sockets need more file descriptors. Run \`ulimit -n 20000\` first, or set WS_IDLE_SOCKETS lower.`,
    );
    process.exit(2);
  }
  const result = await runWebSocketBench();
  printWebSocketBench(result);
}

/** This process's soft limit on open files (Linux), if it can be read. */
function openFileLimit(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft && /^\d+$/.test(soft) ? Number(soft) : undefined;
  } catch {
    return undefined;
  }
}

/** Where the run is, on stderr (a full run takes minutes). */
function progress(step: string): void {
  console.error(`[bench:ws] ${new Date().toISOString().slice(11, 19)} ${step}`);
}
