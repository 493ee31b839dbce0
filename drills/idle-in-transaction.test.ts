/**
 * Drill for issue 9, item 3: no connection may be left idle in transaction after a partition.
 *
 * One instance reaches its PostgreSQL cluster through the fault proxy and serves traffic (hot
 * requests from cached sessions, logins that run admission transactions, revocations, and the
 * change feed's own polls and touches). The link freezes for 12 s with every socket open, then
 * heals. A few seconds later no backend of the database may be `idle in transaction`: every
 * failed or timed-out transaction must end with its connection rolled back or destroyed.
 */
import test from 'ava';
import { FaultProxy } from '../test/helpers/fault-proxy.js';
import { PgCluster } from '../test/helpers/pg-cluster.js';
import { gql, ms, startDrillServer, tally, wait, type Answer, type Caller } from '../test/helpers/drill-app.js';

const DATABASE = 'drill';
const FREEZE_MS = 12_000;
/** Traffic stops at the heal (requests already sent are answered). */
const TRAFFIC_AFTER_HEAL_MS = 0;
/** From this long after the heal, pg_stat_activity is sampled every SAMPLE_EVERY_MS, SAMPLES times. */
const SETTLE_MS = 3_000;
const SAMPLE_EVERY_MS = 500;
const SAMPLES = 7;
/** A transaction of this library lasts milliseconds; one open this long with no statement running is left over. */
const STUCK_AFTER = '2 seconds';
const TICK_MS = 100;
/**
 * Logins (admission transactions) and revocations arrive in a burst during the first seconds of
 * the freeze, as when a link stalls under load; hot requests (served from memory), touches and
 * the change feed's polls go on all along. After the heal nothing new is sent: the database must
 * then see every connection idle, not idle in transaction. (A transaction that happens to start
 * later on a connection left in a transaction would hide it; the PostgreSQL log then says
 * "there is already a transaction in progress", which the drill checks too.)
 */
const BURST_MS = 4_000;

interface StuckBackend {
  pid: number;
  state: string;
  xact_seconds: string;
  idle_seconds: string;
  last_query: string;
}

const LOGIN = 'mutation ($user: String!, $key: String!) { login(user: $user, key: $key) }';

test.serial('after a 12 s stalled link heals, no backend of the database stays idle in transaction', async (t) => {
  const cluster = await PgCluster.start(t);
  const url = await cluster.createDatabase(DATABASE);
  const proxy = await FaultProxy.to(url);
  t.teardown(() => proxy.close());
  const x = await startDrillServer(t, { database: proxy.urlFor(url), syncInterval: 500, user: { maxSessions: 3 } });
  t.teardown(() => proxy.thaw());

  const login = (user: string, key: string) => gql(x.url, LOGIN, { variables: { user, key }, timeoutMs: 15_000 });
  const users: Caller[] = Array.from({ length: 5 }, (_, i) => ({ user: `user${i}`, key: `user${i}-key` }));
  for (const u of users) t.is((await gql(x.url, '{ whoami }', { as: u })).outcome, 'ok', `${u.user} is admitted`);
  // A burst of concurrent logins opens several pooled connections, which the freeze then catches in use.
  const warm = await Promise.all(Array.from({ length: 8 }, (_, i) => login(`warm${i}`, `warm${i}-key`)));
  t.deepEqual(tally(warm.map((a) => a.outcome)), { ok: 8 }, 'the warm-up logins succeed');
  const revocable = warm.map((a) => String(a.data!.login));

  const traffic: Array<Promise<Answer | string>> = [];
  proxy.freeze();
  const frozenAt = proxy.frozenAt!;
  let healedAt = 0;
  for (let tick = 0; ; tick++) {
    const now = performance.now();
    if (!healedAt && now - frozenAt >= FREEZE_MS) {
      proxy.thaw();
      healedAt = performance.now();
    }
    if (healedAt && now - healedAt >= TRAFFIC_AFTER_HEAL_MS) break;
    traffic.push(gql(x.url, '{ whoami }', { as: users[tick % users.length], timeoutMs: 15_000 }));
    const burst = !healedAt && now - frozenAt < BURST_MS;
    if (burst && tick % 2 === 0) traffic.push(login(`burst${tick}`, `burst${tick}-key`));
    if (burst && tick % 10 === 5 && revocable.length) {
      traffic.push(
        x.controller.revoke(revocable.pop()!, { reason: 'ADMIN_REVOKED', note: 'fault drill' }).then(
          () => 'revoked',
          (error: Error) => `revoke failed: ${error.message}`,
        ),
      );
    }
    await wait(TICK_MS);
  }

  // "A few seconds later": sample what the database sees, several times.
  await wait(SETTLE_MS - TRAFFIC_AFTER_HEAL_MS);
  const seen = new Map<number, StuckBackend & { sample: number }>();
  for (let sample = 0; sample < SAMPLES; sample++) {
    const rows = await cluster.query<StuckBackend>(
      `select pid, state,
              round(extract(epoch from now() - xact_start)::numeric, 1)::text as xact_seconds,
              round(extract(epoch from now() - state_change)::numeric, 1)::text as idle_seconds,
              left(regexp_replace(query, '\\s+', ' ', 'g'), 160) as last_query
         from pg_stat_activity
        where datname = $1 and state like 'idle in transaction%'
          and xact_start < now() - interval '${STUCK_AFTER}'`,
      [DATABASE],
    );
    for (const row of rows) if (!seen.has(row.pid)) seen.set(row.pid, { ...row, sample });
    await wait(SAMPLE_EVERY_MS);
  }
  const outcomes = (await Promise.all(traffic)).map((r) => (typeof r === 'string' ? r.replace(/:.*/, ':…') : r.outcome));

  const stuck = [...seen.values()];
  const sampledFrom = SETTLE_MS;
  const sampledTo = SETTLE_MS + (SAMPLES - 1) * SAMPLE_EVERY_MS;
  t.log(`link frozen ${ms(FREEZE_MS)}; traffic outcomes: ${JSON.stringify(tally(outcomes))}`);
  for (const s of stuck) {
    t.log(
      `pid ${s.pid} "${s.state}" (seen ${ms(sampledFrom + s.sample * SAMPLE_EVERY_MS)} after the heal): transaction open ${s.xact_seconds} s, ` +
        `idle ${s.idle_seconds} s, last statement: ${s.last_query}`,
    );
  }
  const warnings = cluster
    .log()
    .split('\n')
    .filter((line) => /there is already a transaction in progress/.test(line));
  t.log(`PostgreSQL log: ${warnings.length} "there is already a transaction in progress" warning(s)${warnings.length ? `, e.g. ${warnings[0]}` : ''}`);

  t.deepEqual(
    stuck.map((s) => `pid ${s.pid}: ${s.state} for ${s.xact_seconds} s, last statement: ${s.last_query}`),
    [],
    `${stuck.length} backend(s) of database "${DATABASE}" stayed idle in transaction (open > ${STUCK_AFTER}) ` +
      `${ms(sampledFrom)}–${ms(sampledTo)} after the link healed: a failed or timed-out transaction must end with ` +
      'its connection rolled back or destroyed, never go back to the pool inside a transaction',
  );
  t.deepEqual(
    warnings,
    [],
    'PostgreSQL saw a BEGIN on a connection already inside a transaction: a connection went back to the pool in a transaction',
  );
});
