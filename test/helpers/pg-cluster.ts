import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

/** Every drill cluster's name starts with this; nothing else is ever stopped or dropped. */
const DRILL_CLUSTER_PREFIX = 'gscdrill_';

/** The shared cluster: never started, stopped, frozen nor dropped by this harness. */
const SHARED_CLUSTER = 'main';

interface Teardown {
  teardown(fn: () => unknown): void;
}

/** The newest PostgreSQL major version installed (`ls /etc/postgresql`). */
export function postgresVersion(): string {
  const versions = readdirSync('/etc/postgresql').filter((v) => /^\d+$/.test(v));
  if (!versions.length) throw new Error('no PostgreSQL version under /etc/postgresql');
  return versions.sort((a, b) => Number(a) - Number(b)).at(-1)!;
}

/** Clusters still to drop if the process ends without its teardown (a crash, an ava timeout). */
const live = new Set<PgCluster>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const cluster of live) cluster.dropSync();
  });
}

/** A port nothing listens on at the moment (the kernel's pick), without a PostgreSQL socket file. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = net.createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as net.AddressInfo;
        server.close(() => resolve(port));
      });
    });
    if (!existsSync(`/var/run/postgresql/.s.PGSQL.${port}`)) return port;
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** `pg_lsclusters` rows: version, name, port, status. */
export function listClusters(): Array<{ version: string; name: string; port: number; status: string }> {
  const out = spawnSync('pg_lsclusters', ['--no-header'], { encoding: 'utf8' }).stdout ?? '';
  return out
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length >= 4)
    .map(([version, name, port, status]) => ({ version, name, port: Number(port), status }));
}

/**
 * Drops drill clusters left behind by a process that no longer runs (their name carries its
 * pid). Clusters of drills running now, in this process or another, are left alone.
 */
function dropStaleDrillClusters(): string[] {
  const dropped: string[] = [];
  for (const c of listClusters()) {
    const match = new RegExp(`^${DRILL_CLUSTER_PREFIX}(\\d+)_[0-9a-f]+$`).exec(c.name);
    if (!match || c.name === SHARED_CLUSTER || alive(Number(match[1]))) continue;
    const pid = postmasterPidOf(c.version, c.name);
    if (pid) signalTree(pid, 'SIGCONT');
    spawnSync('pg_dropcluster', ['--stop', c.version, c.name], { stdio: 'ignore' });
    dropped.push(c.name);
  }
  return dropped;
}

function postmasterPidOf(version: string, name: string): number | undefined {
  try {
    const pid = Number(readFileSync(`/var/lib/postgresql/${version}/${name}/postmaster.pid`, 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** One statement on a fresh connection to `url`, closed afterwards (a drill server may go any time). */
export async function queryOnce<T = Record<string, unknown>>(
  url: string,
  text: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  client.on('error', () => {});
  await client.connect();
  try {
    return (await client.query(text, params)).rows as T[];
  } finally {
    await client.end().catch(() => {});
  }
}

/** The direct children of a process (the postmaster's backends and auxiliary processes). */
export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Gone already: nothing to freeze or thaw.
  }
}

export function signalTree(pid: number, name: NodeJS.Signals): number[] {
  const pids = [pid, ...childrenOf(pid)];
  for (const p of pids) signal(p, name);
  return pids;
}

export interface PgClusterOptions {
  /** Extra server settings (`-o name=value` of pg_createcluster). */
  settings?: Record<string, string | number>;
}

/**
 * A PostgreSQL cluster of a drill's own, made with `pg_createcluster` (trust auth for local and
 * 127.0.0.1, a free port, a unique name) and driven with `pg_ctlcluster`: the drill may stop it,
 * freeze it with SIGSTOP and do anything else a fault needs without touching the shared cluster.
 * `PgCluster.start(t)` drops it in `t.teardown` (thawing it first if frozen), and a process that
 * dies before its teardown drops it on exit; a later run drops what a killed one left.
 */
export class PgCluster {
  private dropped = false;
  private frozenPids: number[] = [];

  private constructor(
    readonly version: string,
    readonly name: string,
    readonly port: number,
  ) {}

  /** Creates and starts a cluster, dropped in `t.teardown` (registered before anything can fail). */
  static async start(t: Teardown, options: PgClusterOptions = {}): Promise<PgCluster> {
    installExitHook();
    dropStaleDrillClusters();
    const version = postgresVersion();
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      const name = `${DRILL_CLUSTER_PREFIX}${process.pid}_${randomBytes(4).toString('hex')}`;
      const cluster = new PgCluster(version, name, await freePort());
      live.add(cluster);
      t.teardown(() => cluster.drop());
      try {
        await cluster.create(options);
        await cluster.startServer();
        return cluster;
      } catch (error) {
        // Most likely the port was taken between the pick and the start: try another.
        lastError = error;
        await cluster.drop();
      }
    }
    throw new Error(`could not start a drill cluster: ${(lastError as Error).message}`, { cause: lastError });
  }

  private async create(options: PgClusterOptions): Promise<void> {
    const settings: Record<string, string | number> = {
      // A throwaway cluster: durability costs time and buys nothing here.
      fsync: 'off',
      synchronous_commit: 'off',
      full_page_writes: 'off',
      max_connections: 100,
      shared_buffers: '32MB',
      ...options.settings,
    };
    const args = ['--start-conf', 'manual', '-p', String(this.port)];
    for (const [key, value] of Object.entries(settings)) args.push('-o', `${key}=${value}`);
    args.push(this.version, this.name, '--', '--auth-local=trust', '--auth-host=trust');
    await run('pg_createcluster', args, { timeout: 60_000 });
  }

  private async startServer(): Promise<void> {
    await run('pg_ctlcluster', ['--skip-systemctl-redirect', this.version, this.name, 'start'], { timeout: 60_000 });
    await this.waitReady();
  }

  /** Waits until `pg_isready` says the server accepts connections. */
  async waitReady(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ready = spawnSync('pg_isready', ['-h', '127.0.0.1', '-p', String(this.port), '-q'], { timeout: 5_000 });
      if (ready.status === 0) return;
      if (Date.now() > deadline) throw new Error(`cluster ${this.name} not ready after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  /** A connection URL (user postgres, trust auth). */
  url(database = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  /** Creates a database on this cluster and returns its URL. */
  async createDatabase(name = 'drill'): Promise<string> {
    await this.query(`create database ${name}`);
    return this.url(name);
  }

  /** One statement on a fresh connection (the cluster must be up and not frozen). */
  async query<T = Record<string, unknown>>(text: string, params: unknown[] = [], database = 'postgres'): Promise<T[]> {
    return queryOnce<T>(this.url(database), text, params);
  }

  /** Stops the server (fast shutdown: sessions are cut, as when a database goes away). */
  async stop(): Promise<void> {
    this.thaw();
    await run('pg_ctlcluster', ['--skip-systemctl-redirect', this.version, this.name, 'stop', '-m', 'fast'], {
      timeout: 60_000,
    });
  }

  /** Starts it again after `stop()`, on the same port. */
  async start(): Promise<void> {
    await this.startServer();
  }

  /** Where Debian keeps this cluster's postgresql.conf and pg_hba.conf. */
  get configDir(): string {
    return `/etc/postgresql/${this.version}/${this.name}`;
  }

  /** Puts these lines first in pg_hba.conf (first match wins) and reloads the server. */
  async prependHba(lines: string[]): Promise<void> {
    const file = `${this.configDir}/pg_hba.conf`;
    writeFileSync(file, `${lines.join('\n')}\n${readFileSync(file, 'utf8')}`);
    await run('pg_ctlcluster', ['--skip-systemctl-redirect', this.version, this.name, 'reload'], { timeout: 60_000 });
  }

  /** The postmaster's pid (from `postmaster.pid`), or undefined when the server is down. */
  get postmasterPid(): number | undefined {
    return postmasterPidOf(this.version, this.name);
  }

  get isFrozen(): boolean {
    return this.frozenPids.length > 0;
  }

  /**
   * Freezes the database with SIGSTOP, synchronously (safe to call from inside a hook).
   * `backends: true` (default) stops the postmaster and every process it started: the whole
   * database hangs, every open connection stays open and unanswered. `backends: false` stops the
   * postmaster only: connections already made keep working (each has its own backend process),
   * new ones hang.
   */
  freeze({ backends = true }: { backends?: boolean } = {}): void {
    if (this.isFrozen) return;
    const pid = this.postmasterPid;
    if (!pid) throw new Error(`cluster ${this.name} is not running`);
    // The postmaster first, so that it forks no process that would escape the freeze.
    signal(pid, 'SIGSTOP');
    const children = backends ? childrenOf(pid) : [];
    for (const child of children) signal(child, 'SIGSTOP');
    this.frozenPids = [pid, ...children];
  }

  /** Resumes what `freeze()` stopped (SIGCONT). Idempotent. */
  thaw(): void {
    const pids = this.frozenPids;
    this.frozenPids = [];
    for (const pid of [...pids].reverse()) signal(pid, 'SIGCONT');
  }

  /** The server log so far (it is deleted with the cluster). */
  log(): string {
    try {
      return readFileSync(`/var/log/postgresql/postgresql-${this.version}-${this.name}.log`, 'utf8');
    } catch {
      return '';
    }
  }

  /** Thaws, stops and drops the cluster (`pg_dropcluster --stop`). Idempotent; never throws. */
  async drop(): Promise<void> {
    if (this.dropped) return;
    this.dropped = true;
    live.delete(this);
    this.thaw();
    await run('pg_dropcluster', ['--stop', this.version, this.name], { timeout: 120_000 }).catch(() => {
      // Not created (a failed attempt), or stopping failed: make sure nothing is left.
      this.dropSyncNow();
    });
  }

  /** For the exit hook: no event loop left, so everything synchronously. */
  dropSync(): void {
    if (this.dropped) return;
    this.dropped = true;
    this.dropSyncNow();
  }

  private dropSyncNow(): void {
    this.thaw();
    const pid = this.postmasterPid;
    if (pid) signalTree(pid, 'SIGCONT');
    if (listClusters().some((c) => c.version === this.version && c.name === this.name)) {
      spawnSync('pg_dropcluster', ['--stop', this.version, this.name], { stdio: 'ignore', timeout: 120_000 });
    }
  }
}
