/**
 * The in-process measurements of issue 13 (docs/benchmark.md, "Issue 13"): the library driven
 * directly from the orchestrator's process (no HTTP), each beside its baseline in the same run.
 *
 * - `admissionFloor`: admissions against a bare single-statement INSERT … RETURNING of the same
 *   row through node-postgres, same concurrency, alternating rounds.
 * - `refusedKeys`: what a key retrying a full cap costs, how soon it gets in when a seat frees,
 *   and what revoked, tombstoned and expired keys cost.
 * - `appLockCeiling`: app-capped admissions far from the cap (shared app lock) and near it
 *   (exclusive: one at a time, database-wide), from four instances.
 * - `nearCapBurst`: 40 concurrent admissions at a cap just above the live count of a big table.
 * - `pgbouncerCheck`: two instances through PgBouncer in transaction pooling mode.
 * - `tableSizes`: bytes per row and per index entry.
 */
import { createHash, randomUUID } from 'node:crypto';
import pg from 'pg';
import { SessionController } from '../src/controller.js';
import type { Identity } from '../src/identity.js';
import type { SessionControllerOptions } from '../src/options.js';
import { internalsOf } from '../test/helpers/internals.js';
import { pgbouncerInstalled, startPgBouncer } from '../test/helpers/pgbouncer.js';
import { countStoreCalls } from '../test/helpers/store-calls.js';
import { cpuSnapshot } from './cpu.js';
import { BenchDatabase } from './database.js';
import { median, quantile, round } from './stats.js';

const digest = (key: string) => createHash('sha256').update(key).digest('hex');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface Drive {
  perS: number;
  p50: number;
  p95: number;
  ok: number;
  errors: Record<string, number>;
}

/** Runs `op` from `concurrency` loops for `seconds`; latencies in ms. */
async function drive(concurrency: number, seconds: number, op: (i: number) => Promise<unknown>): Promise<Drive> {
  let next = 0;
  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  const started = performance.now();
  const end = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        try {
          await op(next++);
          latencies.push(performance.now() - t0);
        } catch (error) {
          const code = (error as { extensions?: { code?: string } }).extensions?.code ?? (error as Error).message;
          errors[code] = (errors[code] ?? 0) + 1;
        }
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    perS: round(latencies.length / elapsed, 1),
    p50: round(quantile(latencies, 0.5), 3),
    p95: round(quantile(latencies, 0.95), 3),
    ok: latencies.length,
    errors,
  };
}

const controller = (db: BenchDatabase, options: Partial<SessionControllerOptions<{ identity: Identity }>> = {}) =>
  SessionController.create<{ identity: Identity }>({
    database: db.url,
    identify: (ctx) => ctx.identity,
    user: { maxSessions: 5 },
    idleTimeout: '30m',
    migrate: false,
    ...options,
  });

/** The database backends serving the bench database (the bench has a database of its own: they are all ours). */
async function backends(db: BenchDatabase): Promise<number[]> {
  const rows = await db.query<{ pid: number }>(
    'select pid from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
    [db.name],
  );
  return rows.map((r) => Number(r.pid));
}

/**
 * `drive`, plus the CPU the database backends of the bench database spent meanwhile and the CPU
 * of this process, in microseconds per completed operation (Linux /proc; 10 ms ticks). Other
 * PostgreSQL processes (WAL writer, checkpointer) and other databases are left out.
 */
async function driveWithCpu(
  db: BenchDatabase,
  concurrency: number,
  seconds: number,
  op: (i: number) => Promise<unknown>,
) {
  const before = await backends(db);
  const dbBefore = cpuSnapshot(before);
  const nodeBefore = process.cpuUsage();
  const result = await drive(concurrency, seconds, op);
  const node = process.cpuUsage(nodeBefore);
  const dbAfter = cpuSnapshot([...new Set([...before, ...(await backends(db))])]);
  let ticks = 0;
  for (const [pid, t] of dbAfter.byPid) ticks += t - (dbBefore.byPid.get(pid) ?? 0);
  const ops = Math.max(result.ok, 1);
  return {
    ...result,
    dbCpuUsPerOp: round((ticks * 10_000) / ops, 1),
    nodeCpuUsPerOp: round((node.user + node.system) / ops, 1),
  };
}

export interface FloorResult {
  concurrency: number;
  seconds: number;
  rounds: Array<Record<string, Drive & { dbCpuUsPerOp: number; nodeCpuUsPerOp: number }>>;
  /** Medians over rounds. */
  perS: Record<string, number>;
  /** Database backend CPU per operation (µs), and this process's: medians over rounds. */
  dbCpuUsPerOp: Record<string, number>;
  nodeCpuUsPerOp: Record<string, number>;
  p50: Record<string, number>;
  p95: Record<string, number>;
  /** Per round, library ÷ bare INSERT (trigger-less copy of the table), and their median. */
  ratios: number[];
  ratio: number;
}

/**
 * Admissions (`openSession`, distinct users: one `gsc_admit` call each) against the floor of one
 * round trip and one row written: `INSERT … RETURNING` of the same columns through a node-postgres
 * pool of the same size, into a copy of `gsc_session` with the same indexes and no trigger (and,
 * for information, into `gsc_session` itself, whose app-count trigger every insert pays).
 */
export async function admissionFloor(
  db: BenchDatabase,
  { concurrency = 10, seconds = 3, rounds = 3 } = {},
): Promise<FloorResult> {
  await db.query('create table if not exists gsc_bench_plain (like gsc_session including all)');
  const library = await controller(db);
  const libraryAppCap = await controller(db, { app: { maxSessions: 10_000_000 } });
  const pool = new pg.Pool({ connectionString: db.url, max: concurrency });
  pool.on('error', () => {});
  const insert = (table: string) => (i: number, tag: string) => {
    const user = `${tag}-u${i}`;
    return pool.query(
      `insert into ${table} (id, user_id, key_hash, ip_address, user_agent, exempt) values ($1, $2, $3, $4, $5, false) returning *`,
      [randomUUID(), user, digest(`${tag}-k${i}`), '127.0.0.1', 'bench'],
    );
  };
  const variants: Record<string, (i: number, tag: string) => Promise<unknown>> = {
    library: (i, tag) =>
      library.openSession({ userId: `${tag}-u${i}`, sessionKey: `${tag}-k${i}`, ip: '127.0.0.1', userAgent: 'bench' }),
    'library + app cap': (i, tag) =>
      libraryAppCap.openSession({
        userId: `${tag}-u${i}`,
        sessionKey: `${tag}-k${i}`,
        ip: '127.0.0.1',
        userAgent: 'bench',
      }),
    'bare INSERT': insert('gsc_bench_plain'),
    'bare INSERT into gsc_session': insert('gsc_session'),
  };
  const names = Object.keys(variants);
  const results: FloorResult['rounds'] = [];
  try {
    // Warm-up: JIT, pools, plans.
    for (const name of names) await drive(concurrency, 0.5, (i) => variants[name](i, `floor-warm-${name.length}`));
    for (let r = 0; r < rounds; r++) {
      const round: FloorResult['rounds'][number] = {};
      for (let k = 0; k < names.length; k++) {
        const name = names[(k + r) % names.length];
        round[name] = await driveWithCpu(db, concurrency, seconds, (i) => variants[name](i, `floor-${r}-${k}`));
      }
      results.push(round);
    }
  } finally {
    await pool.end();
    await library.close();
    await libraryAppCap.close();
  }
  const pick = (key: 'perS' | 'p50' | 'p95' | 'dbCpuUsPerOp' | 'nodeCpuUsPerOp') =>
    Object.fromEntries(names.map((n) => [n, round(median(results.map((r) => r[n][key])), 2)]));
  const ratios = results.map((r) => round(r.library.perS / r['bare INSERT'].perS, 3));
  return {
    concurrency,
    seconds,
    rounds: results,
    perS: pick('perS'),
    p50: pick('p50'),
    p95: pick('p95'),
    dbCpuUsPerOp: pick('dbCpuUsPerOp'),
    nodeCpuUsPerOp: pick('nodeCpuUsPerOp'),
    ratios,
    ratio: round(median(ratios), 3),
  };
}

export interface RefusedKeysResult {
  retrySeconds: number;
  tries: number;
  /** Admission transactions the retrying key cost, and per second. */
  admissions: number;
  admissionsPerS: number;
  /** From the revocation that freed a seat to the retrying key's admission (retry every 10 ms). */
  admittedAfterMs: number;
  /** Store calls (admissions + look-ups) for 200 retries of each, after the first. */
  revokedCalls: number;
  tombstonedCalls: number;
  expiredCalls: number;
}

/** A key retrying a full user cap, then a freed seat; then revoked, tombstoned and expired keys retrying. */
export async function refusedKeys(db: BenchDatabase, retrySeconds = 5): Promise<RefusedKeysResult> {
  const c = await controller(db, { user: { maxSessions: 1 } });
  try {
    const calls = countStoreCalls(c);
    // A request as the plugin makes it: identify, memory, store.
    const request = async (userId: string, sessionKey: string) => {
      try {
        await internalsOf(c).sessions.govern({ identity: { userId, sessionKey } });
        return 'ok';
      } catch (error) {
        return (error as { extensions?: { code?: string } }).extensions?.code ?? 'ERROR';
      }
    };
    const first = await c.openSession({ userId: 'rk', sessionKey: 'rk-1' });
    calls.admit = 0;
    calls.lookup = 0;
    let tries = 0;
    const started = performance.now();
    while (performance.now() - started < retrySeconds * 1000) {
      const outcome = await request('rk', 'rk-2');
      if (outcome !== 'SESSION_LIMIT_EXCEEDED') throw new Error(`refused keys: expected a refusal, got ${outcome}`);
      tries++;
      await sleep(10);
    }
    const admissions = calls.admit;
    const retried = (performance.now() - started) / 1000;
    await c.revoke(first.id);
    const freed = performance.now();
    while ((await request('rk', 'rk-2')) !== 'ok') {
      if (performance.now() - freed > 5_000) throw new Error('refused keys: not admitted 5 s after a seat freed');
      await sleep(10);
    }
    const admittedAfterMs = round(performance.now() - freed, 1);

    // Revoked (a row), tombstoned (no row), expired (a row idle for an hour): each asked once, then 200 retries.
    const revoked = await c.openSession({ userId: 'rk-r', sessionKey: 'rk-revoked' });
    await c.revoke(revoked.id, { reason: 'LOGOUT' });
    await db.query(
      "insert into gsc_tombstone (key_hash, reason, expires_at) values ($1, 'LOGOUT', now() + interval '1 day')",
      [digest('rk-tombstoned')],
    );
    await db.query(
      "insert into gsc_session (id, user_id, key_hash, created_at, last_seen_at) values ($1, 'rk-e', $2, now() - interval '2 hours', now() - interval '1 hour')",
      [randomUUID(), digest('rk-expired')],
    );
    const cost = async (user: string, key: string, expected: string) => {
      const firstOutcome = await request(user, key);
      if (firstOutcome !== expected) throw new Error(`refused keys: ${key} gave ${firstOutcome}, expected ${expected}`);
      const before = calls.admit + calls.lookup;
      for (let i = 0; i < 200; i++) await request(user, key);
      return calls.admit + calls.lookup - before;
    };
    return {
      retrySeconds: round(retried, 2),
      tries,
      admissions,
      admissionsPerS: round(admissions / retried, 2),
      admittedAfterMs,
      revokedCalls: await cost('rk-r', 'rk-revoked', 'SESSION_REVOKED'),
      tombstonedCalls: await cost('rk-t', 'rk-tombstoned', 'SESSION_REVOKED'),
      expiredCalls: await cost('rk-e', 'rk-expired', 'SESSION_EXPIRED'),
    };
  } finally {
    await c.close();
  }
}

export interface CeilingResult {
  instances: number;
  concurrency: number;
  shared: Drive;
  exclusive: Drive;
}

/**
 * App-capped admissions from `instances` controllers (one process), far from the cap (the app
 * lock shared) and as if near it (taken exclusively: one admission at a time in the whole
 * database, the lock held from its acquisition to the commit). The exclusive rate is the app
 * lock's ceiling. The counter stays below the cap, so no exact count is involved.
 */
export async function appLockCeiling(
  db: BenchDatabase,
  { instances = 4, concurrency = 5, seconds = 4 } = {},
): Promise<CeilingResult> {
  const controllers = await Promise.all(
    Array.from({ length: instances }, () => controller(db, { app: { maxSessions: 10_000_000 } })),
  );
  try {
    const run = (tag: string) =>
      drive(instances * concurrency, seconds, (i) =>
        controllers[i % instances].openSession({ userId: `${tag}-u${i}`, sessionKey: `${tag}-k${i}` }),
      );
    await run('ceiling-warm');
    const shared = await run('ceiling-shared');
    for (const c of controllers)
      (internalsOf(c).store.sessions as unknown as { nearCapUntil: number }).nearCapUntil = Number.POSITIVE_INFINITY;
    const exclusive = await run('ceiling-exclusive');
    return { instances, concurrency: instances * concurrency, shared, exclusive };
  } finally {
    await Promise.all(controllers.map((c) => c.close()));
  }
}

export interface BurstResult {
  live: number;
  cap: number;
  outcomes: Record<string, number>;
  elapsedMs: number;
  /** Live sessions after the burst. */
  after: number;
}

/** 40 concurrent admissions at an app cap 20 above the live count: exactly 20 get in, nobody waits for a connection. */
export async function nearCapBurst(db: BenchDatabase): Promise<BurstResult> {
  const alive = async () =>
    Number(
      (
        await db.query<{ n: string }>(
          "select count(*) as n from gsc_session where revoked_at is null and exempt = false and last_seen_at > now() - interval '30 minutes'",
        )
      )[0].n,
    );
  const live = await alive();
  const cap = live + 20;
  const c = await controller(db, { app: { maxSessions: cap } });
  try {
    const started = performance.now();
    const outcomes: Record<string, number> = {};
    await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        let outcome: string;
        try {
          await c.openSession({ userId: `burst-u${i}`, sessionKey: `burst-k${i}-${cap}` });
          outcome = 'admitted';
        } catch (error) {
          const e = error as { extensions?: { code?: string; level?: string } };
          outcome = `${e.extensions?.code ?? 'ERROR'}${e.extensions?.level ? ` ${e.extensions.level}` : ''}`;
        }
        outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      }),
    );
    return { live, cap, outcomes, elapsedMs: round(performance.now() - started, 0), after: await alive() };
  } finally {
    await c.close();
  }
}

export interface PgBouncerResult {
  installed: boolean;
  /** Live sessions after 240 concurrent first requests (120 keys, each on both instances) at an app cap of 25, user cap 2. */
  live: number | null;
  cap: number;
  outcomes: Record<string, number>;
  /** Revocation on one instance → refusal on the other (feed by polling only), ms. */
  revocationMs: number[];
}

/**
 * Two instances through a pgbouncer (transaction pooling, 3 server connections) of the bench's
 * own, on a database of their own (the app cap counts every session of a database).
 */
export async function pgbouncerCheck(): Promise<PgBouncerResult> {
  const cap = 25;
  if (!pgbouncerInstalled()) return { installed: false, live: null, cap, outcomes: {}, revocationMs: [] };
  const db = await BenchDatabase.create();
  const bouncer = await startPgBouncer(db.url, { poolSize: 3 }).catch(async (error: Error) => {
    await db.drop();
    throw error;
  });
  const through = bouncer.urlFor(db.url);
  const options = {
    database: through,
    feedDatabase: false as const,
    app: { maxSessions: cap },
    user: { maxSessions: 2 },
    migrate: true,
  };
  let a: SessionController<{ identity: Identity }> | undefined;
  let b: SessionController<{ identity: Identity }> | undefined;
  try {
    a = await controller(db, options);
    b = await controller(db, options);
    const outcomes: Record<string, number> = {};
    const keys = Array.from({ length: 120 }, (_, i) => ({ userId: `pgb-u${i % 40}`, sessionKey: `pgb-k${i}` }));
    await Promise.all(
      keys.flatMap((identity) =>
        [a!, b!].map(async (c) => {
          let outcome = 'admitted';
          try {
            await c.openSession(identity);
          } catch (error) {
            const e = error as { extensions?: { code?: string; level?: string } };
            outcome = `${e.extensions?.code ?? 'ERROR'}${e.extensions?.level ? ` ${e.extensions.level}` : ''}`;
          }
          outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
        }),
      ),
    );
    const live = Number(
      (
        await db.query<{ n: string }>(
          "select count(*) as n from gsc_session where user_id like 'pgb-u%' and revoked_at is null",
        )
      )[0].n,
    );
    const revocationMs: number[] = [];
    const rows = await db.query<{ id: string; user_id: string; key_hash: string }>(
      "select id, user_id, key_hash from gsc_session where user_id like 'pgb-u%' and revoked_at is null limit 8",
    );
    const keyOf = new Map(keys.map((k) => [digest(k.sessionKey), k]));
    for (const row of rows) {
      const identity = keyOf.get(row.key_hash)!;
      await internalsOf(b).sessions.govern({ identity }); // cached on B
      const revoked = performance.now();
      await a.revoke(row.id);
      for (;;) {
        try {
          await internalsOf(b!).sessions.govern({ identity });
        } catch {
          break;
        }
        if (performance.now() - revoked > 5_000) break;
        await sleep(10);
      }
      revocationMs.push(round(performance.now() - revoked, 1));
    }
    return { installed: true, live, cap, outcomes, revocationMs };
  } finally {
    await a?.close();
    await b?.close();
    await bouncer.stop();
    await db.drop();
  }
}

export interface TableSizes {
  rows: number;
  heapBytes: number;
  bytesPerRow: number;
  indexes: Array<{ name: string; bytes: number; entries: number; bytesPerEntry: number }>;
  totalBytes: number;
}

/** Bytes of `gsc_session` and each of its indexes, per row and per entry (after `vacuum analyze`). */
export async function tableSizes(db: BenchDatabase): Promise<TableSizes> {
  const [counts] = await db.query<Record<string, string>>(
    `select count(*) as rows,
            count(*) filter (where revoked_at is null) as not_revoked,
            count(*) filter (where revoked_at is not null) as revoked,
            count(*) filter (where revoked_at is null and exempt = false and swept_at is null) as counted,
            count(*) filter (where swept_at is not null and revoked_at is null) as swept,
            count(*) filter (where ip_address is not null) as with_ip,
            pg_relation_size('gsc_session') as heap,
            pg_total_relation_size('gsc_session') as total
       from gsc_session`,
  );
  const entries: Record<string, number> = {
    gsc_session_pkey: Number(counts.rows),
    gsc_session_key_hash_unique: Number(counts.rows),
    gsc_session_user_active_idx: Number(counts.not_revoked),
    gsc_session_app_counted_idx: Number(counts.counted),
    gsc_session_revoked_idx: Number(counts.revoked),
    gsc_session_swept_idx: Number(counts.swept),
    // The operators' history indexes (migrations/Migration20261128100000_operators.ts).
    gsc_session_created_idx: Number(counts.rows),
    gsc_session_user_created_idx: Number(counts.rows),
    gsc_session_ip_created_idx: Number(counts.with_ip),
    gsc_session_revoked_created_idx: Number(counts.revoked),
  };
  const indexes = await db.query<{ name: string; bytes: string }>(
    "select indexrelid::regclass::text as name, pg_relation_size(indexrelid) as bytes from pg_index where indrelid = 'gsc_session'::regclass order by 1",
  );
  const rows = Number(counts.rows);
  return {
    rows,
    heapBytes: Number(counts.heap),
    bytesPerRow: round(Number(counts.heap) / Math.max(rows, 1), 1),
    indexes: indexes.map((i) => {
      const n = entries[i.name] ?? rows;
      return {
        name: i.name,
        bytes: Number(i.bytes),
        entries: n,
        bytesPerEntry: round(Number(i.bytes) / Math.max(n, 1), 1),
      };
    }),
    totalBytes: Number(counts.total),
  };
}
