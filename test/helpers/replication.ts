/**
 * A PostgreSQL primary with streaming hot standbys, built for a drill from PostgreSQL's own
 * binaries (`initdb`, `pg_basebackup -R`, `pg_ctl`, run as the `postgres` user) on ports of its
 * own: never the shared cluster on 5432. Trust auth on 127.0.0.1. Replication synchronous or
 * asynchronous, one or more standbys; a drill can wait for a standby to replay past an LSN, pause
 * its replay, promote it, kill or stop any server and start it again.
 *
 * Clean-up as test/helpers/pg-cluster.ts does it: `Replication.start(t)` removes everything in
 * `t.teardown`, a process that dies first removes it on exit, and a later run removes what a
 * killed run left (the directory names carry the pid).
 */
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { eventually } from './core.js';
import { alive, freePort, postgresVersion, queryOnce, signalTree } from './pg-cluster.js';

const run = promisify(execFile);

/** Every replication set's directory under the temp dir starts with this; nothing else is removed. */
const REPLICATION_DIR_PREFIX = 'gscrepl_';

/** PostgreSQL's binaries: the newest version installed (15 on this project's machines). */
const BIN = `/usr/lib/postgresql/${postgresVersion()}/bin`;

interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface ReplicationOptions {
  /** How many hot standbys (default 1). */
  standbys?: number;
  /**
   * Synchronous replication (default false): a commit on the primary returns once
   * `synchronousCount` standbys have flushed it (`synchronous_standby_names = 'ANY n (…)'`).
   */
  synchronous?: boolean;
  /** With `synchronous`: how many standbys must confirm a commit (default 1). */
  synchronousCount?: number;
  /** Extra server settings for every server (written to postgresql.auto.conf before the first start). */
  settings?: Record<string, string | number>;
}

/** The `postgres` user's ids, when this process runs as root (then every binary runs as postgres). */
function postgresIds(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const out = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (out.status !== 0 || gid.status !== 0) throw new Error('no postgres user to run PostgreSQL as');
  return { uid: Number(out.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

const ids = postgresIds();

async function pgBin(name: string, args: string[], cwd: string, timeout = 60_000): Promise<string> {
  const { stdout } = await run(path.join(BIN, name), args, {
    cwd,
    timeout,
    ...ids,
    env: { ...process.env, LC_ALL: 'C.UTF-8' },
  });
  return stdout;
}

function pgBinSync(name: string, args: string[], cwd: string): void {
  spawnSync(path.join(BIN, name), args, { cwd, stdio: 'ignore', timeout: 60_000, ...ids });
}

/** A postmaster's pid from its data directory, when that process is still this data directory's postmaster. */
function postmasterOf(dataDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    // The pid may have been reused since a kill: signal only a postgres started on this directory.
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes(dataDir) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Kills every server under a replication set's directory and removes it, synchronously. */
function removeSetSync(dir: string): void {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir)) {
    const pid = postmasterOf(path.join(dir, entry));
    if (pid) signalTree(pid, 'SIGKILL');
  }
  rmSync(dir, { recursive: true, force: true });
}

/** Removes replication sets left by processes that no longer run; sets of running processes stay. */
function removeStaleReplicationSets(): string[] {
  const removed: string[] = [];
  for (const entry of readdirSync(tmpdir())) {
    const match = new RegExp(`^${REPLICATION_DIR_PREFIX}(\\d+)_[0-9a-f]+$`).exec(entry);
    if (!match || alive(Number(match[1]))) continue;
    removeSetSync(path.join(tmpdir(), entry));
    removed.push(entry);
  }
  return removed;
}

const live = new Set<Replication>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const set of live) set.teardownSync();
  });
}

/** One server of the set: the primary or a standby (roles change with `promote`). */
export class PgNode {
  constructor(
    /** `primary`, `standby1`, `standby2`, …: also its `application_name` for replication. */
    readonly name: string,
    readonly dataDir: string,
    public port: number,
  ) {}

  /** A connection URL (user postgres, trust auth). */
  url(database = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  /** One statement on a fresh connection. */
  async query<T = Record<string, unknown>>(text: string, params: unknown[] = [], database = 'postgres'): Promise<T[]> {
    return queryOnce<T>(this.url(database), text, params);
  }

  /** `pg_is_in_recovery()`: true on a standby. */
  async inRecovery(): Promise<boolean> {
    const [row] = await this.query<{ r: boolean }>('select pg_is_in_recovery() as r');
    return row.r;
  }

  /** The last WAL position replayed (standby) or written (primary). */
  async lsn(): Promise<string> {
    const [row] = await this.query<{ lsn: string }>(
      'select case when pg_is_in_recovery() then pg_last_wal_replay_lsn() else pg_current_wal_lsn() end::text as lsn',
    );
    return row.lsn;
  }

  /** The postmaster's pid, or undefined when the server is down. */
  get postmasterPid(): number | undefined {
    return postmasterOf(this.dataDir);
  }

  get running(): boolean {
    return this.postmasterPid !== undefined;
  }

  /** The server log so far (removed with the set). */
  log(): string {
    try {
      return readFileSync(`${this.dataDir}.log`, 'utf8');
    } catch {
      return '';
    }
  }
}

/**
 * A primary and its standbys. `primary` is the server the set last knew as primary: after
 * `promote(s)`, that standby.
 */
export class Replication {
  private removed = false;
  readonly standbys: PgNode[] = [];
  primary: PgNode;

  private constructor(
    /** The set's directory (data directories and logs). */
    readonly dir: string,
    primary: PgNode,
    private readonly options: ReplicationOptions,
  ) {
    this.primary = primary;
  }

  /** Every server, primary first. */
  get nodes(): PgNode[] {
    return [this.primary, ...this.standbys.filter((s) => s !== this.primary)];
  }

  /**
   * Builds and starts a primary and its standbys, each standby streaming and caught up; removed in
   * `t.teardown` (registered before anything can fail).
   */
  static async start(t: Teardown, options: ReplicationOptions = {}): Promise<Replication> {
    installExitHook();
    removeStaleReplicationSets();
    const dir = path.join(tmpdir(), `${REPLICATION_DIR_PREFIX}${process.pid}_${randomBytes(4).toString('hex')}`);
    mkdirSync(dir, { mode: 0o700 });
    if (ids) chownSync(dir, ids.uid, ids.gid);
    const set = new Replication(dir, new PgNode('primary', path.join(dir, 'primary'), 0), options);
    live.add(set);
    t.teardown(() => set.teardown());
    await set.initPrimary();
    for (let i = 1; i <= (options.standbys ?? 1); i++) await set.addStandby();
    if (options.synchronous) await set.setSynchronous(true);
    return set;
  }

  private async initPrimary(): Promise<void> {
    const node = this.primary;
    await pgBin(
      'initdb',
      ['-D', node.dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync', '--no-instructions'],
      this.dir,
    );
    const settings: Record<string, string | number> = {
      listen_addresses: "'127.0.0.1'",
      // A socket of its own: nothing in /var/run/postgresql is touched or shadowed.
      unix_socket_directories: `'${this.dir}'`,
      // A throwaway set: fsync buys nothing (a killed server keeps the OS cache); commits still
      // wait for synchronous standbys, which is what the drills look at.
      fsync: 'off',
      full_page_writes: 'off',
      max_connections: 100,
      shared_buffers: "'32MB'",
      wal_level: 'replica',
      max_wal_senders: 10,
      wal_keep_size: "'256MB'",
      hot_standby: 'on',
      // Standbys report replay promptly, so waits on them end soon after the fact.
      wal_receiver_status_interval: "'1s'",
      wal_retrieve_retry_interval: "'500ms'",
      ...Object.fromEntries(Object.entries(this.options.settings ?? {}).map(([k, v]) => [k, quoteSetting(v)])),
    };
    await this.appendConf(node, settings);
    await this.startFresh(node);
  }

  /** Adds a standby streaming from the current primary (`pg_basebackup -R`), started and caught up. */
  async addStandby(): Promise<PgNode> {
    const name = `standby${this.standbys.length + 1}`;
    const node = new PgNode(name, path.join(this.dir, name), 0);
    await pgBin(
      'pg_basebackup',
      [
        '-h',
        '127.0.0.1',
        '-p',
        String(this.primary.port),
        '-U',
        'postgres',
        '-D',
        node.dataDir,
        '-R',
        '-X',
        'stream',
        '-c',
        'fast',
        '--no-sync',
      ],
      this.dir,
    );
    this.standbys.push(node);
    await this.appendConf(node, { primary_conninfo: `'${this.conninfo(this.primary, name)}'` });
    await this.startFresh(node);
    await this.waitReplayed(node, await this.primary.lsn());
    return node;
  }

  private conninfo(upstream: PgNode, applicationName: string): string {
    return `host=127.0.0.1 port=${upstream.port} user=postgres application_name=${applicationName}`;
  }

  /**
   * Appends settings to a server's postgresql.auto.conf, as the postgres user: read last, so
   * they win over postgresql.conf and over the `primary_conninfo` that `pg_basebackup -R` wrote.
   */
  private async appendConf(node: PgNode, settings: Record<string, string | number>): Promise<void> {
    const lines = Object.entries(settings)
      .map(([k, v]) => `${k} = ${v}`)
      .join('\n');
    await pgBinShell(`cat >> ${shellQuote(path.join(node.dataDir, 'postgresql.auto.conf'))}`, `${lines}\n`, this.dir);
  }

  /** First start on a free port; another port if that one was taken meanwhile. */
  private async startFresh(node: PgNode): Promise<void> {
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      node.port = await freePort();
      await this.appendConf(node, { port: node.port });
      try {
        await this.start(node);
        return;
      } catch (error) {
        lastError = error;
      }
    }
    throw new Error(`could not start ${node.name}: ${(lastError as Error).message}\n${node.log()}`, {
      cause: lastError,
    });
  }

  /** Starts a stopped or killed server on its port and waits until it accepts connections. */
  async start(node: PgNode): Promise<void> {
    await pgBin(
      'pg_ctl',
      ['start', '-w', '-t', '60', '-D', node.dataDir, '-l', `${node.dataDir}.log`],
      this.dir,
      90_000,
    );
  }

  /** Stops a server (`fast`: sessions cut, a clean shutdown; `immediate`: no shutdown checkpoint). */
  async stop(node: PgNode, mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    if (!node.running) return;
    await pgBin('pg_ctl', ['stop', '-w', '-t', '60', '-m', mode, '-D', node.dataDir], this.dir, 90_000);
  }

  /**
   * Kills a server as a machine that dies: SIGKILL to the postmaster and every process it
   * started, at once; its clients see their connections drop. `start(node)` recovers it.
   * Resolves once the postmaster is gone: a signal is delivered, not obeyed, when kill(2) returns.
   */
  async kill(node: PgNode): Promise<void> {
    const pid = node.postmasterPid;
    if (!pid) throw new Error(`${node.name} is not running`);
    signalTree(pid, 'SIGKILL');
    await eventually(async () => (node.running ? undefined : true), 10_000, 10);
  }

  /**
   * Promotes a standby (`pg_ctl promote`), waits until it takes writes, and makes it the set's
   * `primary`. The other standbys keep following the old primary until `follow` re-points them.
   */
  async promote(standby: PgNode): Promise<void> {
    await pgBin('pg_ctl', ['promote', '-w', '-t', '60', '-D', standby.dataDir], this.dir, 90_000);
    this.primary = standby;
  }

  /** Re-points a standby at another upstream (`primary_conninfo` is reloaded; timeline `latest`). */
  async follow(standby: PgNode, upstream: PgNode = this.primary): Promise<void> {
    await this.appendConf(standby, { primary_conninfo: `'${this.conninfo(upstream, standby.name)}'` });
    await standby.query('select pg_reload_conf()');
  }

  /**
   * Turns synchronous replication on (commits wait for `synchronousCount` of the standbys) or
   * off (asynchronous), on the current primary (`pg_reload_conf`); resolves once the streaming
   * standbys show it in `pg_stat_replication`.
   */
  async setSynchronous(on: boolean): Promise<void> {
    const names = this.standbys.filter((s) => s !== this.primary).map((s) => s.name);
    const value = on ? `ANY ${this.options.synchronousCount ?? 1} (${names.join(', ')})` : '';
    await this.primary.query(`alter system set synchronous_standby_names = '${value}'`);
    await this.primary.query('select pg_reload_conf()');
    // The reload reaches the walsenders a moment later: wait until pg_stat_replication shows it.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const rows = await this.primary.query<{ async: boolean }>(
        "select sync_state = 'async' as async from pg_stat_replication where application_name = any($1)",
        [names],
      );
      // No standby streaming (all stopped): nothing that could show it.
      if (rows.every((r) => r.async === !on)) return;
      if (Date.now() > deadline) throw new Error(`synchronous_standby_names = '${value}' not in effect after 10 s`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** The current primary's WAL position now (`pg_current_wal_lsn()`). */
  async currentLsn(): Promise<string> {
    const [row] = await this.primary.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn');
    return row.lsn;
  }

  /** Waits until a standby has replayed past `lsn` (default: the primary's position now). */
  async waitReplayed(standby: PgNode, lsn?: string, timeoutMs = 30_000): Promise<void> {
    const target = lsn ?? (await this.currentLsn());
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const rows = await standby
        .query<{ done: boolean }>('select pg_last_wal_replay_lsn() >= $1::pg_lsn as done', [target])
        .catch(() => [{ done: false }]);
      if (rows[0]?.done) return;
      if (Date.now() > deadline)
        throw new Error(`${standby.name} has not replayed past ${target} within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Pauses a standby's replay (`pg_wal_replay_pause()`): it keeps receiving WAL but shows nothing new. */
  async pauseReplay(standby: PgNode): Promise<void> {
    await standby.query('select pg_wal_replay_pause()');
  }

  /** Resumes what `pauseReplay` paused. */
  async resumeReplay(standby: PgNode): Promise<void> {
    await standby.query('select pg_wal_replay_resume()');
  }

  /** Creates a database on the primary, waits until every running standby has it, returns its primary URL. */
  async createDatabase(name = 'drill'): Promise<string> {
    await this.primary.query(`create database ${name}`);
    const lsn = await this.currentLsn();
    for (const standby of this.standbys)
      if (standby !== this.primary && standby.running) await this.waitReplayed(standby, lsn);
    return this.primary.url(name);
  }

  /** Kills every server and removes the set's directory. Idempotent; never throws. */
  async teardown(): Promise<void> {
    this.teardownSync();
  }

  /** For the exit hook: no event loop left, so everything synchronously. */
  teardownSync(): void {
    if (this.removed) return;
    this.removed = true;
    live.delete(this);
    // An immediate stop first (pg_ctl waits for the processes to go), a SIGKILL for what remains.
    for (const node of [this.primary, ...this.standbys]) {
      if (node.running)
        pgBinSync('pg_ctl', ['stop', '-m', 'immediate', '-w', '-t', '10', '-D', node.dataDir], this.dir);
    }
    removeSetSync(this.dir);
  }
}

function quoteSetting(value: string | number): string | number {
  return typeof value === 'number' ? value : `'${value.replace(/'/g, "''")}'`;
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** A shell line run as the postgres user, with `input` on its stdin (files in a data directory are theirs). */
async function pgBinShell(command: string, input: string, cwd: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = execFile('sh', ['-c', command], { cwd, timeout: 10_000, ...ids }, (error) =>
      error ? reject(error) : resolve(),
    );
    child.stdin?.end(input);
  });
}
