/**
 * Read replicas for listings (docs/design.md, "Read replicas"): decides, for each listing, whether
 * a hot standby may answer it or the primary must, and runs it there.
 *
 * Read-your-writes, for every caller on every instance: a listing first asks the primary for its
 * WAL insert position (`pg_current_wal_insert_lsn()`, no table touched), and a replica answers
 * only once it has replayed past that position, so every write acknowledged before the listing
 * began (the caller's login, its revocations, made on this instance or any other, or by the CLI)
 * is in what it reads. A replica that has not caught up within `maxReplicaLag` is lagging: the
 * listing reads from the primary, and so do the listings of the next `LAGGING_RECHECK_MS`,
 * without asking it; then one listing waits for it again. A replica that fails (down,
 * unreachable, a recovery conflict) is left for `REPLICA_RETRY_MS`; the listing is answered by
 * the primary, with no error to the client.
 */
import pg from 'pg';
import { connectionConfig, type SslOption } from './connection-config.js';
import { numbered, type Sql } from './sql.js';

/** A replica that failed is not asked again for this long (then one listing tries it). */
const REPLICA_RETRY_MS = 5_000;
/**
 * Naps between two looks at a replica's replay position while a listing waits for it: short at
 * first (a replay lag on a local network is a millisecond or two), then every 5 ms. The wait is
 * made of separate statements on purpose: one statement that waited on the replica would hold a
 * snapshot, and replaying a cleanup record that conflicts with it waits for that statement to
 * end (hot standby conflicts): the wait would stall the very replay it waits for.
 */
const REPLAY_NAPS_MS = [1, 2, 3, 5];
/**
 * A replica that missed the lag bound is left to the primary for this long; then one listing
 * waits for it again (the others go on to the primary meanwhile, at no cost to them).
 */
const LAGGING_RECHECK_MS = 1_000;

/** Timeouts as the primary's pool has them (src/store/database.ts). */
const CONNECT_TIMEOUT_MS = 3_000;
const QUERY_TIMEOUT_MS = 10_000;

/** A replica to open: a URL, or node-postgres settings (a host MikroORM's `replicas` entry). */
export interface ReplicaTarget {
  /** host:port/database, for messages: never a password. */
  label: string;
  connection: pg.PoolConfig;
}

export interface ReadReplicaSettings {
  /** How long a listing waits for a replica to replay the primary's latest writes (`maxReplicaLag`). */
  maxLagMs: number;
  /** A replica was left (it failed) or taken back; for the log. */
  onReplicaState?: (label: string, state: 'down' | 'up', error?: Error) => void;
}

/** The connection pool of one replica, with the primary pool's limits and timeouts. */
function replicaPool(target: ReplicaTarget): pg.Pool {
  const pool = new pg.Pool({
    max: 10,
    idleTimeoutMillis: 10_000,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
    ...target.connection,
  });
  // An idle connection that breaks (the replica restarts) is reported here; the next query reconnects.
  pool.on('error', () => {});
  return pool;
}

/**
 * The replicas a URL names, read as the primary's URL is (src/store/connection-config.ts): every
 * parameter and the `ssl` option apply alike; each host of a multi-host URL is one replica.
 */
export function replicaTargetsFromUrl(url: string, ssl?: SslOption): ReplicaTarget[] {
  const config = connectionConfig(url, { ssl });
  return config.hosts.map((host) => ({
    label: `${host.host}:${host.port}/${config.database}`,
    connection: config.forHost(host),
  }));
}

/**
 * The replicas of a host's MikroORM (`replicas` in its config), completed as MikroORM completes
 * them: what an entry leaves out (host, port, user, password, dbName) is the primary's, and the
 * primary's `driverOptions.connection` (e.g. `ssl`) applies to all.
 */
export function replicaTargetsOfOrm(config: {
  get(key: string, fallback?: unknown): unknown;
  getClientUrl(): string;
}): ReplicaTarget[] {
  const entries = (config.get('replicas', []) as Array<Record<string, unknown>> | undefined) ?? [];
  if (!entries.length) return [];
  const primaryUrl = new URL(config.getClientUrl());
  const primary = {
    host: (config.get('host') as string | undefined) ?? decodeURIComponent(primaryUrl.hostname),
    port: (config.get('port') as number | undefined) ?? (Number(primaryUrl.port) || 5432),
    user: (config.get('user') as string | undefined) ?? decodeURIComponent(primaryUrl.username),
    password: (config.get('password') as string | undefined) ?? decodeURIComponent(primaryUrl.password),
    database:
      (config.get('dbName') as string | undefined) ?? decodeURIComponent(primaryUrl.pathname).replace(/^\//, ''),
  };
  const driverConnection =
    ((config.get('driverOptions') as { connection?: pg.PoolConfig } | undefined)?.connection as pg.PoolConfig) ?? {};
  return entries.map((entry) => {
    const fromUrl = typeof entry.clientUrl === 'string' ? new URL(entry.clientUrl) : undefined;
    const connection: pg.PoolConfig = {
      ...driverConnection,
      host: (entry.host as string | undefined) ?? (fromUrl ? decodeURIComponent(fromUrl.hostname) : primary.host),
      port: (entry.port as number | undefined) ?? (fromUrl ? Number(fromUrl.port) || 5432 : primary.port),
      user: (entry.user as string | undefined) ?? (fromUrl ? decodeURIComponent(fromUrl.username) : primary.user),
      password:
        (entry.password as string | undefined) ?? (fromUrl ? decodeURIComponent(fromUrl.password) : primary.password),
      database:
        (entry.dbName as string | undefined) ??
        (fromUrl ? decodeURIComponent(fromUrl.pathname).replace(/^\//, '') : primary.database),
    };
    return { label: `${connection.host}:${connection.port}/${connection.database}`, connection };
  });
}

/** Statements on a replica's pool, in the store's `?` style. */
function poolSql(pool: pg.Pool): Sql {
  const all = async <T>(text: string, params: unknown[] = []) => (await pool.query(numbered(text), params)).rows as T[];
  return { all, one: async <T>(text: string, params: unknown[] = []) => (await all<T>(text, params))[0] };
}

/**
 * A listing its `statement_timeout` cancelled (SQLSTATE 57014) would only take as long again on
 * the primary: that error is the client's. Anything else (the replica down, a broken link, a
 * recovery conflict, a replica of another database that lacks the tables) sends the listing to
 * the primary, which gives its own answer or its own error.
 */
function failsOnPrimaryToo(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === '57014';
}

class Replica<R> {
  private downUntil = 0;
  /** Missed the lag bound: left to the primary until then, then one listing waits for it again. */
  private laggingUntil = 0;

  constructor(
    readonly label: string,
    private readonly pool: pg.Pool,
    readonly sql: Sql,
    readonly readers: R,
    private readonly settings: ReadReplicaSettings,
  ) {}

  get available(): boolean {
    const now = Date.now();
    return now >= this.downUntil && now >= this.laggingUntil;
  }

  /**
   * Whether the replica has replayed past `lsn`, waiting at most `waitMs` for it. `null` from
   * `pg_last_wal_replay_lsn()` (a server not in recovery: promoted, or a primary by mistake) is
   * never caught up, so such a server never answers a listing.
   */
  async replayedPast(lsn: string, waitMs: number): Promise<boolean> {
    const deadline = Date.now() + waitMs;
    for (let look = 0; ; look++) {
      const { rows } = await this.pool.query<{ caught_up: boolean | null }>(
        'select pg_last_wal_replay_lsn() >= $1::pg_lsn as caught_up',
        [lsn],
      );
      const caughtUp = rows[0]?.caught_up;
      const nap = REPLAY_NAPS_MS[Math.min(look, REPLAY_NAPS_MS.length - 1)];
      if (caughtUp === true || caughtUp === null || Date.now() + nap > deadline) {
        this.laggingUntil = caughtUp === true ? 0 : Date.now() + LAGGING_RECHECK_MS;
        return caughtUp === true;
      }
      await new Promise((resolve) => setTimeout(resolve, nap));
    }
  }

  markDown(error: Error): void {
    const wasUp = this.downUntil === 0;
    this.downUntil = Date.now() + REPLICA_RETRY_MS;
    if (wasUp) this.settings.onReplicaState?.(this.label, 'down', error);
  }

  markUp(): void {
    if (this.downUntil === 0) return;
    this.downUntil = 0;
    this.settings.onReplicaState?.(this.label, 'up');
  }

  close(): Promise<void> {
    return this.pool.end().catch(() => {});
  }
}

/** Where a listing was answered, for tests and the bench. */
export type ListingSource = 'replica' | 'primary';

/**
 * The readers (`R`: the store's read-only parts, built on an `Sql`) of the primary and of each
 * replica; `read` runs a listing on a replica that may answer it, else on the primary.
 */
export class ReadReplicas<R> {
  private readonly replicas: Array<Replica<R>>;
  private next = 0;
  /** Listings answered by each side since start (tests and the bench look). */
  readonly answered: Record<ListingSource, number> = { replica: 0, primary: 0 };

  constructor(
    private readonly primarySql: Sql,
    private readonly primaryReaders: R,
    targets: readonly ReplicaTarget[],
    build: (sql: Sql) => R,
    private readonly settings: ReadReplicaSettings,
  ) {
    this.replicas = targets.map((target) => {
      const pool = replicaPool(target);
      const sql = poolSql(pool);
      return new Replica(target.label, pool, sql, build(sql), settings);
    });
  }

  get size(): number {
    return this.replicas.length;
  }

  /** Each replica's answer to `pg_is_in_recovery()`, or the error that kept it from answering (start-up checks). */
  async probe(): Promise<Array<{ label: string; standby?: boolean; error?: Error }>> {
    return Promise.all(
      this.replicas.map(async (replica) => {
        try {
          const [row] = await replica.sql.all<{ r: boolean }>('select pg_is_in_recovery() as r');
          return { label: replica.label, standby: row.r };
        } catch (error) {
          return { label: replica.label, error: error as Error };
        }
      }),
    );
  }

  /** Runs a listing where it may be answered (see the module's comment). */
  async read<T>(listing: (readers: R) => Promise<T>): Promise<T> {
    const candidates = this.rotation().filter((r) => r.available);
    if (candidates.length) {
      const [position] = await this.primarySql.all<{ lsn: string }>('select pg_current_wal_insert_lsn()::text as lsn');
      for (const replica of candidates) {
        try {
          if (!(await replica.replayedPast(position.lsn, this.settings.maxLagMs))) continue;
          const result = await listing(replica.readers);
          replica.markUp();
          this.answered.replica++;
          return result;
        } catch (error) {
          if (failsOnPrimaryToo(error)) throw error;
          replica.markDown(error as Error);
        }
      }
    }
    this.answered.primary++;
    return listing(this.primaryReaders);
  }

  /** Replicas in turn, starting one further at each listing, so that load spreads over them. */
  private rotation(): Array<Replica<R>> {
    if (this.replicas.length <= 1) return this.replicas;
    const start = this.next++ % this.replicas.length;
    return [...this.replicas.slice(start), ...this.replicas.slice(0, start)];
  }

  close(): Promise<void> {
    return Promise.all(this.replicas.map((r) => r.close())).then(() => {});
  }
}
