/**
 * A fair session API (issue 18 item 5, docs/contract.md §15): one user flooding the API with
 * expensive listings cannot hold up another user's listing or a login, and `totalCount` costs a
 * bounded amount (`api.maxTotalCount`). Behaviour only: who completes while the flood is still
 * in flight, never a timing ratio (the figures are the bench's: `npm run bench:fair`).
 */

import { spawn } from 'node:child_process';
import test from 'ava';
import { newKey, startApiServer } from './helpers/api.js';
import { databaseKind, onPostgres } from './helpers/database.js';
import { sql } from './helpers/fleet.js';

const FLOOD = 32;
const HISTORY = 60_000;

/** `rows` revoked sessions of `userId` in the last days: history within the retention. */
async function seedHistory(controller: Parameters<typeof sql>[0], userId: string, rows: number, revoked = true) {
  await sql(
    controller,
    `insert into gsc_session (id, user_id, key_hash, created_at, last_seen_at, revoked_at, revoked_reason)
     select gen_random_uuid(), ?, encode(sha256(convert_to(? || i, 'UTF8')), 'hex'),
            now() - (i * interval '1 second'), now() - (i * interval '1 second'),
            case when ? then now() - (i * interval '1 second') end, case when ? then 'LOGOUT' end
       from generate_series(1, ?) as i`,
    [userId, `${userId}-${revoked ? 'revoked' : 'active'}-`, revoked, revoked, rows],
  );
}

/**
 * The clients, in a process of their own: on the embedded database the store runs in the test's
 * thread, and clients sharing that thread would be served in the order it reaches them, whatever
 * the server does. `heavy` sends `flood` listings at once; once one has come back, `light` sends
 * a listing and `newcomer` signs in (a request with a new key: an admission). Prints how many of
 * the flood were still pending when each of those came back.
 */
const CLIENTS = `
import { request } from 'node:http';
const [url, heavyKey, lightKey, newcomerKey, flood] = process.argv.slice(1);
// A connection per request (no pool): every request is on the wire at once.
const ask = (user, key, query) =>
  new Promise((resolve, reject) => {
    const req = request(url, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/json', 'x-user': user, 'x-session': key },
    }, (res) => {
      let text = '';
      res.on('data', (chunk) => (text += chunk));
      res.on('error', reject);
      res.on('end', () => {
        const body = JSON.parse(text);
        if (body.errors) reject(new Error(JSON.stringify(body.errors)));
        else resolve(body.data);
      });
    });
    req.on('error', reject);
    req.end(JSON.stringify({ query }));
  });
let pending = Number(flood);
let first;
const flowing = new Promise((resolve) => (first = resolve));
const counts = Array.from({ length: pending }, () =>
  ask('heavy', heavyKey, '{ sessions(first: 1) { totalCount } }').finally(() => {
    pending -= 1;
    first();
  }),
);
await flowing;
const started = pending;
const [light, listedWhile, newcomer, loggedInWhile] = await Promise.all([
  ask('light', lightKey, '{ activeSessions(first: 5) { totalCount } }').then((data) => [data, pending]),
  ask('newcomer', newcomerKey, '{ whoami }').then((data) => [data, pending]),
]).then(([a, b]) => [...a, ...b]);
const totals = (await Promise.all(counts)).map((data) => data.sessions.totalCount);
process.stdout.write(JSON.stringify({
  started,
  listedWhile,
  loggedInWhile,
  light: light.activeSessions.totalCount,
  newcomer: newcomer.whoami,
  totals: [...new Set(totals)],
}));
`;

interface ClientReport {
  started: number;
  listedWhile: number;
  loggedInWhile: number;
  light: number;
  newcomer: string;
  totals: number[];
}

function runClients(url: string, keys: { heavy: string; light: string; newcomer: string }): Promise<ClientReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--input-type=module', '-e', CLIENTS, url, keys.heavy, keys.light, keys.newcomer, String(FLOOD)],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stderr.on('data', (chunk) => (err += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(JSON.parse(out) as ClientReport);
      else reject(new Error(`the clients failed (${code}):\n${out}\n${err}`));
    });
  });
}

// Found in a trial (issue 18 item 5): one user sending 32 `sessions { totalCount }` at a time over
// a 60,000-row history held the API's three shared slots; everyone else's listings queued behind
// the whole flood. Here the count is left exact (a cap far above the history), so only the
// sharing of the queue is at stake.
// On PostgreSQL only, where the trial ran and where production runs: the embedded database
// executes each statement synchronously in the server's thread (WebAssembly), so while one
// 60,000-row count runs no request of anyone is even read; there the bound is the count's cap
// (the next test), not the order of the queue.
const onPostgresOnly = onPostgres ? test : undefined;
onPostgresOnly?.(
  `while one user floods sessions { totalCount } over ${HISTORY} rows, another user's listing and a login complete before half the flood has (${databaseKind})`,
  async (t) => {
    const s = await startApiServer(t, 'schema-first', { api: { maxTotalCount: 1_000_000 } });
    const keys = { heavy: newKey('heavy'), light: newKey('light'), newcomer: newKey('newcomer') };
    await s.as('heavy', keys.heavy).request('{ activeSessions(first: 1) { totalCount } }');
    await s.as('light', keys.light).request('{ activeSessions(first: 1) { totalCount } }');
    await seedHistory(s.controller, 'heavy', HISTORY);

    const report = await runClients(s.url, keys);
    t.true(report.started > FLOOD / 2, `precondition: the flood was in flight (${report.started} pending)`);
    t.deepEqual([report.light, report.newcomer], [1, 'newcomer'], 'the listing and the login were answered');
    t.true(
      report.listedWhile >= FLOOD / 2,
      `the other user's listing waited for the flood: ${FLOOD - report.listedWhile} of ${FLOOD} done first`,
    );
    t.true(
      report.loggedInWhile >= FLOOD / 2,
      `the login waited for the flood: ${FLOOD - report.loggedInWhile} of ${FLOOD} done first`,
    );
    // The flood itself is served in full, and exact under the cap.
    t.deepEqual(report.totals, [HISTORY + 1]);
  },
);

test(`totalCount is exact up to api.maxTotalCount, then that number: sessions and activeSessions alike (${databaseKind})`, async (t) => {
  const s = await startApiServer(t, 'type-graphql', { api: { maxTotalCount: 100 } });
  const busy = s.as('busy', newKey('busy'));
  const calm = s.as('calm', newKey('calm'));
  await busy.request('{ activeSessions(first: 1) { totalCount } }');
  await calm.request('{ activeSessions(first: 1) { totalCount } }');
  await seedHistory(s.controller, 'busy', 150);
  await seedHistory(s.controller, 'busy', 119, false);
  await seedHistory(s.controller, 'calm', 40);

  const history = await busy.request<{ all: { totalCount: number }; revoked: { totalCount: number } }>(
    '{ all: sessions { totalCount } revoked: sessions(filter: { status: [REVOKED] }) { totalCount } }',
  );
  t.deepEqual([history.all.totalCount, history.revoked.totalCount], [100, 100], 'capped at 100');
  const active = await busy.request<{ activeSessions: { totalCount: number; edges: unknown[] } }>(
    '{ activeSessions(first: 3) { totalCount edges { cursor } } }',
  );
  t.is(active.activeSessions.totalCount, 100, '120 active sessions: capped at 100');
  t.is(active.activeSessions.edges.length, 3, 'the page itself is not concerned');
  const exact = await calm.request<{ sessions: { totalCount: number }; activeSessions: { totalCount: number } }>(
    '{ sessions { totalCount } activeSessions { totalCount } }',
  );
  t.deepEqual([exact.sessions.totalCount, exact.activeSessions.totalCount], [41, 1], 'below the cap: exact');
});
