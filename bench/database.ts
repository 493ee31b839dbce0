import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The server the bench creates its own database on; `BENCH_DATABASE_URL` overrides. */
export const ADMIN_URL = process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';

export function withDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

const CONNECT_ATTEMPTS = 20;
const CONNECT_RETRY_MS = 1_000;

/**
 * Connects, retrying while the server is at `max_connections` (SQLSTATE 53300): the database
 * server is shared, and other suites' pools come and go.
 */
async function connect(url: string): Promise<pg.Client> {
  for (let attempt = 1; ; attempt++) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
    try {
      await client.connect();
      return client;
    } catch (error) {
      await client.end().catch(() => {});
      if ((error as { code?: string }).code !== '53300' || attempt >= CONNECT_ATTEMPTS) throw error;
      await new Promise((resolve) => setTimeout(resolve, CONNECT_RETRY_MS));
    }
  }
}

async function onAdmin<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await connect(ADMIN_URL);
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

/**
 * A database of the bench's own (`gsc_bench_<random>`), dropped at the end, so the numbers
 * never include anyone else's rows and `pg_stat_database` counts only the bench's traffic.
 */
export class BenchDatabase {
  private constructor(
    readonly name: string,
    readonly url: string,
    /** A connection to the admin database: it reads the counters without adding to them. */
    private readonly observer: pg.Client,
  ) {}

  static async create(): Promise<BenchDatabase> {
    const name = `gsc_bench_${randomBytes(5).toString('hex')}`;
    await onAdmin((client) => client.query(`create database ${name}`));
    let observer: pg.Client;
    try {
      observer = await connect(ADMIN_URL);
    } catch (error) {
      await onAdmin((client) => client.query(`drop database if exists ${name} with (force)`)).catch(() => {});
      throw error;
    }
    return new BenchDatabase(name, withDatabase(ADMIN_URL, name), observer);
  }

  /**
   * Transactions committed or rolled back in the bench database so far. PostgreSQL 15 backends
   * publish their counters at most once a second, so callers wait `STATS_SETTLE_MS` first.
   */
  async transactions(): Promise<number> {
    const { rows } = await this.observer.query<{ x: string }>(
      'select xact_commit + xact_rollback as x from pg_stat_database where datname = $1',
      [this.name],
    );
    return Number(rows[0]?.x ?? 0);
  }

  /** Runs SQL in the bench database on a short-lived connection. */
  async query<T extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> {
    const client = await connect(this.url);
    try {
      return (await client.query<T>(sql, params)).rows;
    } finally {
      await client.end();
    }
  }

  private dropped = false;

  /** Idempotent: the normal path and Ctrl-C may both call it. */
  async drop(): Promise<void> {
    if (this.dropped) return;
    this.dropped = true;
    await this.observer.end().catch(() => {});
    await onAdmin((client) => client.query(`drop database if exists ${this.name} with (force)`));
  }
}

/** How long after a run the counters are read: PostgreSQL 15 flushes backend stats at most every 1 s. */
export const STATS_SETTLE_MS = 1_200;

/** The share of seeded sessions in each state (of 100). */
const REVOKED_BELOW = 15;
const EXPIRED_BELOW = 40;
/** The rest are active; bucket 99 of them is exempt. */
const EXEMPT_BUCKET = 99;
export const SESSIONS_PER_USER = 3;

export interface SeededSet {
  size: number;
  users: number;
  /** User ids are `${userPrefix}${0..users-1}`. */
  userPrefix: string;
  /** Session keys are `${keyPrefix}${i}`, i in 1..size; the store holds their SHA-256. */
  keyPrefix: string;
  /** Active, non-exempt seeded sessions to call `activeSessions` as: [userId, sessionKey]. */
  probes: Array<{ userId: string; sessionKey: string }>;
  seedMs: number;
  counts: { active: number; expired: number; revoked: number; exempt: number };
}

/**
 * Replaces every stored session with `size` seeded rows in one `insert … select generate_series`:
 * about `size / 3` users with a Poisson-like number of sessions each (hashint4 spreads them), 15%
 * revoked (30 days of history, four reasons), 25% expired by idleness, 60% active (seen in the
 * last 20 minutes), 1% of the active exempt; the expired ones marked swept, as the app count's
 * sweep keeps them. Then `vacuum analyze` and a checkpoint, as
 * autovacuum would have done on a table that grew this big, so the planner and the visibility map
 * see a settled table and no checkpoint lands inside a measurement.
 */
export async function seedSessions(db: BenchDatabase, size: number, label: string): Promise<SeededSet> {
  const users = Math.max(1, Math.round(size / SESSIONS_PER_USER));
  const userPrefix = `seed_${label}_u`;
  const keyPrefix = `seed-${label}-`;
  const started = Date.now();
  await db.query('truncate gsc_session, gsc_lease');
  await db.query(
    `insert into gsc_session
       (id, user_id, key_hash, created_at, last_seen_at, revoked_at, revoked_reason, revoked_note, ip_address, user_agent, exempt,
        swept_at)
     select gen_random_uuid(),
            $1 || (abs(hashint4(i)) % $2),
            encode(sha256(convert_to($3 || i, 'UTF8')), 'hex'),
            t.created_at,
            t.last_seen_at,
            case when b < ${REVOKED_BELOW} then t.last_seen_at end,
            case when b < ${REVOKED_BELOW} then (array['REVOKED', 'LOGOUT', 'EVICTED', 'ADMIN_REVOKED'])[1 + i % 4] end,
            case when b < ${REVOKED_BELOW} and i % 4 = 3 then 'seeded by the benchmark' end,
            '10.' || (i >> 16) % 256 || '.' || (i >> 8) % 256 || '.' || i % 256,
            (array['Mozilla/5.0 (X11; Linux x86_64) Firefox/131.0', 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5) Safari/604.1',
                   'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/129.0', 'okhttp/4.12.0'])[1 + i % 4],
            b = ${EXEMPT_BUCKET},
            -- Expired sessions as the app count's sweep leaves them (it runs every 30 s).
            case when b >= ${REVOKED_BELOW} and b < ${EXPIRED_BELOW} then now() end
       from generate_series(1, $4::int) as i,
            lateral (select i % 100 as b) as bucket,
            lateral (
              -- (each row its own microsecond: real creation times are distinct, and B-tree
              -- deduplication would make the index sizes look smaller than they are)
              select case when b < ${EXPIRED_BELOW}
                          then now() - interval '1 day' - (i % 29) * interval '1 day' - (i % 1440) * interval '1 minute'
                          else now() - (i % 720) * interval '1 minute' end - i * interval '1 microsecond' as created_at) as c,
            lateral (
              select c.created_at,
                     case when b < ${EXPIRED_BELOW} then c.created_at + (i % 120) * interval '1 minute'
                          else greatest(c.created_at, now() - (i % 20) * interval '1 minute' - i * interval '1 microsecond') end as last_seen_at) as t`,
    [userPrefix, users, keyPrefix, size],
  );
  await db.query('vacuum analyze gsc_session');
  await db.query('checkpoint');
  const seedMs = Date.now() - started;
  const [counts] = await db.query<{ active: string; expired: string; revoked: string; exempt: string }>(
    `select count(*) filter (where revoked_at is null and last_seen_at > now() - interval '30 minutes') as active,
            count(*) filter (where revoked_at is null and last_seen_at <= now() - interval '30 minutes') as expired,
            count(*) filter (where revoked_at is not null) as revoked,
            count(*) filter (where exempt) as exempt
       from gsc_session`,
  );
  // Probes: active, non-exempt sessions spread over the whole key range.
  const probes: SeededSet['probes'] = [];
  const step = Math.max(100, Math.floor(size / 16 / 100) * 100);
  for (let base = 0; base + 100 <= size && probes.length < 16; base += step) {
    const i = base + 50 + (probes.length % 40);
    probes.push({ userId: `${userPrefix}${await userIndexOf(db, i, users)}`, sessionKey: `${keyPrefix}${i}` });
  }
  return {
    size,
    users,
    userPrefix,
    keyPrefix,
    probes,
    seedMs,
    counts: {
      active: Number(counts.active),
      expired: Number(counts.expired),
      revoked: Number(counts.revoked),
      exempt: Number(counts.exempt),
    },
  };
}

async function userIndexOf(db: BenchDatabase, i: number, users: number): Promise<number> {
  const [row] = await db.query<{ u: number }>('select abs(hashint4($1::int)) % $2::int as u', [i, users]);
  return Number(row.u);
}
