/**
 * `npx tsx bench/admission-probe.ts`: what bounds admissions per second (docs/benchmark.md).
 * Not part of `npm run bench`. In one process, at 10 concurrent admissions of distinct users:
 *   1. the library's `openSession` (for a login: one call of the `gsc_admit` database function, one
 *      round trip, since issue 13; it was one transaction of 5 round trips before), while
 *      sampling what the database backends wait on;
 *   2. the former five round trips (BEGIN, the advisory lock, the facts query, the INSERT,
 *      COMMIT) through plain node-postgres;
 *   3. the same steps in one round trip (the first round's prototype function).
 * Each twice, alternating, on a database of its own that it drops.
 */
import { createHash, randomUUID } from 'node:crypto';
import pg from 'pg';
import { SessionController } from '../src/index.js';
import { ADMIN_URL, BenchDatabase } from './database.js';
import { quantile } from './stats.js';

const CONCURRENCY = 10;
const SECONDS = 4;

const digest = (key: string) => createHash('sha256').update(key).digest('hex');

async function measure(label: string, admit: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const end = Date.now() + SECONDS * 1000;
  const latencies: number[] = [];
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < end) {
        const started = performance.now();
        await admit(next++);
        latencies.push(performance.now() - started);
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  console.log(
    `${label.padEnd(62)} ${String(Math.round(latencies.length / SECONDS)).padStart(6)} /s   p50 ${quantile(latencies, 0.5).toFixed(2)} ms   p95 ${quantile(latencies, 0.95).toFixed(2)} ms`,
  );
}

/** Samples pg_stat_activity of the database every 10 ms while `work` runs: where do its backends spend time? */
async function waits(db: BenchDatabase, work: Promise<void>): Promise<Array<[string, number]>> {
  const sampler = new pg.Client({ connectionString: ADMIN_URL });
  await sampler.connect();
  const counts = new Map<string, number>();
  let done = false;
  void work.finally(() => (done = true));
  try {
    for (let i = 0; i < 2_000 && !done; i++) {
      const { rows } = await sampler.query<{ w: string }>(
        `select state || ' / ' || coalesce(wait_event_type || ':' || wait_event, 'on CPU') as w
           from pg_stat_activity where datname = $1 and backend_type = 'client backend'`,
        [db.name],
      );
      for (const { w } of rows) counts.set(w, (counts.get(w) ?? 0) + 1);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await work;
  } finally {
    await sampler.end();
  }
  const total = [...counts.values()].reduce((a, b) => a + b, 0) || 1;
  return [...counts].sort((a, b) => b[1] - a[1]).map(([w, n]) => [w, Math.round((1000 * n) / total) / 10]);
}

const db = await BenchDatabase.create();
try {
  const controller = await SessionController.create({
    database: db.url,
    identify: () => null,
    user: { maxSessions: 5 },
    idleTimeout: '30m',
  });
  const pool = new pg.Pool({ connectionString: db.url, max: CONCURRENCY });
  pool.on('error', () => {});
  try {
    // The same steps as SessionTable.admit for a user without rules and no app cap.
    await db.query(`create function bench_admit(p_user text, p_key text, p_limit int) returns uuid language plpgsql as $$
      declare active int; found uuid; created uuid;
      begin
        perform pg_advisory_xact_lock(2, hashtext(p_user));
        select s.id into found from gsc_session s where s.key_hash = p_key;
        if found is not null then return found; end if;
        select count(*) into active from gsc_session s
         where s.user_id = p_user and s.exempt = false and s.revoked_at is null and s.last_seen_at > now() - interval '30 minutes';
        if active >= p_limit then return null; end if;
        insert into gsc_session (id, user_id, key_hash) values (gen_random_uuid(), p_user, p_key) returning id into created;
        return created;
      end $$`);
    for (let rep = 1; rep <= 2; rep++) {
      const tag = `probe${rep}-${Date.now()}`;
      let sampled: Array<[string, number]> = [];
      const library = measure('library openSession (one round trip: gsc_admit)', (i) =>
        controller.openSession({ userId: `${tag}-a${i}`, sessionKey: `${tag}-a${i}` }),
      );
      sampled = await waits(db, library);
      await measure('node-postgres, the former 5 round trips', async (i) => {
        const user = `${tag}-b${i}`;
        const key = digest(user);
        const client = await pool.connect();
        try {
          await client.query('begin');
          await client.query('select pg_advisory_xact_lock($1, hashtext($2))', [2, user]);
          await client.query(
            `select (select count(*) from gsc_session s where s.user_id = $1 and s.exempt = false and s.revoked_at is null
                       and s.last_seen_at > now() - interval '30 minutes') as active,
                    (select s.id from gsc_session s where s.key_hash = $2) as existing`,
            [user, key],
          );
          await client.query('insert into gsc_session (id, user_id, key_hash) values ($1, $2, $3) returning *', [
            randomUUID(),
            user,
            key,
          ]);
          await client.query('commit');
        } finally {
          client.release();
        }
      });
      await measure('node-postgres, one round trip (the same steps in a function)', (i) =>
        pool.query('select bench_admit($1, $2, 5)', [`${tag}-c${i}`, digest(`${tag}-c${i}`)]),
      );
      console.log('  while openSession ran, its database backends were:');
      for (const [w, pct] of sampled) console.log(`    ${String(pct).padStart(5)}%  ${w}`);
    }
  } finally {
    await pool.end();
    await controller.close();
  }
} finally {
  await db.drop();
}
