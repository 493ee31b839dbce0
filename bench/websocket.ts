/**
 * The WebSocket scenario (issue 11): N open sockets with one subscription each, the library on
 * against off (memory per socket and server CPU, side by side in one run), and how long a mass
 * revocation (every socket of 1,000 sessions, spread over two instances) takes to close them all.
 *
 *   npm run bench:ws                  # PostgreSQL at BENCH_DATABASE_URL (default 127.0.0.1:5432)
 *   WS_SOCKETS=1000,5000 npm run bench:ws
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { SessionController } from '../src/index.js';
import { cpuSnapshot, cpuUsage } from './cpu.js';
import { BenchDatabase } from './database.js';
import { ROOT } from './processes.js';
import { median, round } from './stats.js';

const SOCKET_COUNTS = (process.env.WS_SOCKETS ?? '1000,5000').split(',').map(Number);
const STEADY_MS = 5_000;
const MASS_SESSIONS = 1_000;
const OPEN_BATCH = 25;

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

/** Opens a socket, waits for the acknowledgement and its first subscription event. */
async function openSocket(url: string, user: string, key: string): Promise<Socket> {
  let onClosed!: (c: { code: number; reason: string; at: number }) => void;
  const closed = new Promise<{ code: number; reason: string; at: number }>((resolve) => {
    onClosed = resolve;
  });
  const client = createClient({
    url,
    webSocketImpl: WebSocket,
    connectionParams: { user, key },
    lazy: false,
    retryAttempts: 0,
    onNonLazyError: () => {},
    on: {
      closed: (event) => {
        const { code, reason } = event as { code: number; reason: string };
        onClosed({ code, reason: String(reason), at: performance.now() });
      },
    },
  });
  await new Promise<void>((resolve, reject) => {
    client.subscribe({ query: 'subscription { pulse }' }, { next: () => resolve(), error: reject, complete: () => {} });
  });
  return { client, closed };
}

async function openMany(url: string, count: number, keyOf: (i: number) => [string, string]): Promise<Socket[]> {
  const sockets: Socket[] = [];
  // A few dozen at a time: each is an admission, and the bench measures sockets, not a login storm.
  for (let i = 0; i < count; i += OPEN_BATCH) {
    const batch = Array.from({ length: Math.min(OPEN_BATCH, count - i) }, (_, j) => openSocket(url, ...keyOf(i + j)));
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

/** Every socket of MASS_SESSIONS sessions of one user, half on each instance, revoked in one statement. */
async function massRevocation(
  db: BenchDatabase,
): Promise<{ closeAllMs: number; medianMs: number; codes: Record<string, number> }> {
  const [a, b] = [await startServer(db.url, 'on'), await startServer(db.url, 'on')];
  const revoker = await SessionController.create({ database: db.url, identify: () => null });
  try {
    const sockets = [
      ...(await openMany(a.url, MASS_SESSIONS / 2, (i) => ['mass', `mass-a-${i}`])),
      ...(await openMany(b.url, MASS_SESSIONS / 2, (i) => ['mass', `mass-b-${i}`])),
    ];
    const started = performance.now();
    await revoker.revokeUser('mass', 'ADMIN_REVOKED');
    const closed = await Promise.all(sockets.map((s) => s.closed));
    const delays = closed.map((c) => c.at - started);
    const codes: Record<string, number> = {};
    for (const c of closed) codes[`${c.code} ${c.reason}`] = (codes[`${c.code} ${c.reason}`] ?? 0) + 1;
    await closeAll(sockets);
    return { closeAllMs: Math.round(Math.max(...delays)), medianMs: Math.round(median(delays)), codes };
  } finally {
    await revoker.close();
    await Promise.all([a.stop(), b.stop()]);
  }
}

export interface WebSocketBenchResult {
  steady: SteadyResult[];
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
    return { steady: results, mass: await massRevocation(db) };
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
  const { mass } = result;
  const pass = mass.closeAllMs <= 1_000 ? 'PASS' : 'FAIL';
  console.log(
    `mass revocation: every socket of ${MASS_SESSIONS} sessions on 2 instances closed within ${mass.closeAllMs} ms ` +
      `(median ${mass.medianMs} ms; target ≤ 1000 ms: ${pass}); close codes ${JSON.stringify(mass.codes)}`,
  );
}

if (process.argv[1]?.endsWith('websocket.ts')) {
  const result = await runWebSocketBench();
  printWebSocketBench(result);
}
