import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import test, { type ExecutionContext } from 'ava';
import pg from 'pg';
import { eventually } from './helpers/core.js';
import { createTestDatabase, onPostgres } from './helpers/database.js';
import { type DemoProcess, demoClient, login, startDemoProcess } from './helpers/demo-process.js';
import { FaultProxy } from './helpers/fault-proxy.js';

/*
 * Issue 9, item 9: the demo (npm start's entry point) batches last-seen writes and flushes them
 * on SIGTERM. If the store is down at that moment, it must retry within its shutdown deadline;
 * if the touches still cannot be written it exits non-zero and says on stderr how many were
 * lost. When the flush succeeds (at once, or on a retry once the store is back) it exits 0.
 *
 * The outage cases need a database that can be cut under a running process: PostgreSQL behind
 * the TCP proxy. The plain case runs on both databases.
 *
 * SESSION_IDLE_TIMEOUT=8 makes the touch interval 2 s (a quarter of it), so a request 2 s after
 * login records a touch that only the flush writes.
 */

const TOUCH_INTERVAL_MS = 2_000;
const IDLE = { SESSION_IDLE_TIMEOUT: '8' };
/** Generous: the demo's own shutdown deadline, whatever it is, must come well before this. */
const EXIT_WITHIN_MS = 30_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Sends SIGTERM; resolves with the exit code and how long the exit took. */
async function terminate(demo: DemoProcess): Promise<{ code: number | null; tookMs: number }> {
  const started = Date.now();
  // A bound, not a wait: the race ends as soon as the demo exits.
  const timeout = sleep(EXIT_WITHIN_MS).then(() => 'timeout' as const);
  const code = await Promise.race([demo.stop(), timeout]);
  if (code === 'timeout') {
    demo.process.kill('SIGKILL');
    throw new Error(`the demo did not exit within ${EXIT_WITHIN_MS} ms of SIGTERM:\n${demo.output()}`);
  }
  return { code, tookMs: Date.now() - started };
}

/** Logs two users in, waits past the touch interval, and has each make a request: two touches pending. */
async function twoPendingTouches(demo: DemoProcess, before?: () => Promise<void>): Promise<string[]> {
  const tokens = [(await login(demo.url, 'alice')).login.token, (await login(demo.url, 'bob')).login.token];
  // Real time past the touch interval, as the demo's own memory measures it: only then does a
  // request record a touch (an aged row would not reach that memory).
  await sleep(TOUCH_INTERVAL_MS + 300);
  await before?.();
  for (const token of tokens) {
    // Served from memory (the instance was in sync a moment ago): the touch is only batched.
    const me = await demoClient(demo.url, token)
      .request<{ me: string }>('{ me }')
      .then(
        (r) => r.me,
        (error: Error) => `failed: ${error.message.slice(0, 120)}`,
      );
    if (me !== 'alice' && me !== 'bob')
      throw new Error(`precondition: a request served from memory just after the cut, got ${me}`);
  }
  return tokens;
}

/** Seconds between each session's creation and its stored last-seen time, by user. */
async function lastSeenLag(databaseUrl: string): Promise<Record<string, number>> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ user_id: string; lag: string }>(
      'select user_id, extract(epoch from last_seen_at - created_at) as lag from gsc_session order by user_id',
    );
    return Object.fromEntries(rows.map((r) => [r.user_id, Number(r.lag)]));
  } finally {
    await client.end();
  }
}

/** The same, from the embedded database the demo kept on disk (read once the demo has exited). */
async function embeddedLastSeenLag(dataDir: string): Promise<Record<string, number>> {
  const pglite = new PGlite(dataDir);
  try {
    const { rows } = await pglite.query<{ user_id: string; lag: string | number }>(
      'select user_id, extract(epoch from last_seen_at - created_at) as lag from gsc_session order by user_id',
    );
    return Object.fromEntries(rows.map((r) => [r.user_id, Number(r.lag)]));
  } finally {
    await pglite.close();
  }
}

const LOSS_LINE = /touch/i;

test.serial('SIGTERM with the store up writes the pending touches and exits 0, reporting no loss', async (t) => {
  const db = await createTestDatabase();
  t.teardown(() => db.drop());
  const dataDir = await mkdtemp(join(tmpdir(), 'gsc-demo-shutdown-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const env = { ...IDLE, DEMO_DATA_DIR: dataDir, ...(db.url ? { DATABASE_URL: db.url } : {}) };
  const demo = await startDemoProcess(env);
  t.teardown(() => demo.stop());
  await twoPendingTouches(demo);

  const { code } = await terminate(demo);
  t.is(code, 0, `exit code; stderr:\n${demo.stderr()}`);
  t.false(/lost/i.test(demo.stderr()), `nothing reported lost: ${demo.stderr()}`);

  // The touches reached the store: read the rows the demo left (after it exited).
  const lag = db.url ? await lastSeenLag(db.url) : await embeddedLastSeenLag(join(dataDir, 'pglite'));
  t.true(
    lag.alice >= TOUCH_INTERVAL_MS / 1000 && lag.bob >= TOUCH_INTERVAL_MS / 1000,
    `lastSeenAt moved by the requests before SIGTERM; stored last_seen_at - created_at: ${JSON.stringify(lag)} s`,
  );
});

/** A demo on PostgreSQL reached through a proxy the test can cut. */
async function demoBehindProxy(
  t: ExecutionContext,
): Promise<{ demo: DemoProcess; proxy: FaultProxy; directUrl: string }> {
  const db = await createTestDatabase();
  t.teardown(() => db.drop());
  const proxy = await FaultProxy.to(db.url!);
  t.teardown(() => proxy.close());
  const demo = await startDemoProcess({ ...IDLE, DATABASE_URL: proxy.urlFor(db.url!) });
  t.teardown(async () => {
    if (demo.process.exitCode === null && demo.process.signalCode === null) demo.process.kill('SIGKILL');
  });
  return { demo, proxy, directUrl: db.url! };
}

if (onPostgres) {
  test.serial(
    'SIGTERM during a store outage that outlasts the deadline: exits non-zero, saying on stderr how many touches were lost',
    async (t) => {
      const { demo, proxy, directUrl } = await demoBehindProxy(t);
      await twoPendingTouches(demo, () => proxy.close());

      const { code, tookMs } = await terminate(demo);
      t.log(`exit ${code} after ${tookMs} ms; stderr:\n${demo.stderr()}`);
      t.not(code, 0, 'touches that could not be written: the exit code must say the shutdown was not clean');
      const lines = demo
        .stderr()
        .split('\n')
        .filter(
          (line) => LOSS_LINE.test(line) && /\b2\b/.test(line) && /lost|not written|unwritten|dropped/i.test(line),
        );
      t.true(lines.length > 0, `stderr must say that 2 touches were lost; it said:\n${demo.stderr()}`);
      // And indeed they were not written.
      await proxy.open();
      const lag = await lastSeenLag(directUrl);
      t.true(
        lag.alice < TOUCH_INTERVAL_MS / 1000 && lag.bob < TOUCH_INTERVAL_MS / 1000,
        `stored lags ${JSON.stringify(lag)}`,
      );
    },
  );

  test.serial(
    'SIGTERM during a store outage that ends within the deadline: the retried flush writes the touches and it exits 0',
    async (t) => {
      const { demo, proxy, directUrl } = await demoBehindProxy(t);
      await twoPendingTouches(demo, () => proxy.close());

      const exit = terminate(demo);
      // The database comes back a second after the shutdown began (its first flush fails at once
      // on the refused connection), well within any reasonable shutdown deadline.
      await eventually(async () => (demo.output().includes('stopping (flushing') ? true : undefined), 10_000);
      await sleep(1_000); // the outage's remaining length is the scenario
      await proxy.open();
      const { code, tookMs } = await exit;
      t.log(`exit ${code} after ${tookMs} ms; stderr:\n${demo.stderr()}`);
      const lag = await lastSeenLag(directUrl);
      t.true(
        lag.alice >= TOUCH_INTERVAL_MS / 1000 && lag.bob >= TOUCH_INTERVAL_MS / 1000,
        `the retried flush must write both touches; stored last_seen_at - created_at: ${JSON.stringify(lag)} s`,
      );
      t.is(code, 0, 'every touch written: a clean exit');
      // A line about touches lost; the pool's own "a pooled PostgreSQL connection was lost" during
      // the outage is not one.
      const lossLines = demo
        .stderr()
        .split('\n')
        .filter((line) => LOSS_LINE.test(line) && /lost|not written|unwritten|dropped/i.test(line));
      t.deepEqual(lossLines, [], 'no touch reported lost');
    },
  );
}
