// Subscriptions over Server-Sent Events, Yoga's default transport, governed by the envelop plugin
// (docs/contract.md §14): the session is checked at subscribe, `@uniqueSession` seats are held
// while the stream lives and given back when the client goes, and a revoked session's streams
// end within 1 s with the refusal in their last event. Driven by graphql-sse's own client
// (distinct connections mode, which Yoga's built-in SSE serves) and by fetch.
import test, { type ExecutionContext } from 'ava';
import { createClient } from 'graphql-sse';
import { newKey } from './helpers/api.js';
import { eventually } from './helpers/core.js';
import { createTestDatabase } from './helpers/database.js';
import { follow } from './helpers/streams.js';
import { startYogaServer, type YogaTestServer } from './helpers/yoga.js';

type Options = Parameters<typeof startYogaServer>[0];

async function yoga(t: ExecutionContext, options: Options = {}): Promise<YogaTestServer> {
  const db = await createTestDatabase();
  t.teardown(() => db.drop());
  const server = await startYogaServer({ database: db.option(), ...options });
  t.teardown(() => server.stop());
  return server;
}

/** A graphql-sse client presenting this identity; no retries, so a refusal is seen as it is. */
function sse(server: YogaTestServer, userId?: string, sessionKey?: string) {
  const client = createClient({ url: server.url, headers: server.headers(userId, sessionKey), retryAttempts: 0 });
  return client;
}

async function sessionIdOf(server: YogaTestServer, userId: string, key: string): Promise<string> {
  const { whoami } = await server.client(userId, key).request<{ whoami: string }>('{ whoami }');
  return whoami.slice(userId.length + 1);
}

test('a revoked session’s SSE stream ends within 1 s, its last event carrying SESSION_REVOKED', async (t) => {
  const server = await yoga(t);
  const key = newKey();
  const id = await sessionIdOf(server, 'alice', key);
  // An idle stream (no event for minutes): the revocation must not wait for the next one.
  const quiet = follow(sse(server, 'alice', key).iterate({ query: 'subscription { ticks(every: 600000) }' }));
  const busy = follow(sse(server, 'alice', key).iterate({ query: 'subscription { ticks(every: 50) }' }));
  await eventually(
    async () => (busy.events.length >= 2 && server.controller.openConnections === 2 ? true : undefined),
    30_000,
  );
  const revokedAt = performance.now();
  await server.controller.revoke(id, { reason: 'LOGOUT' });
  await Promise.all([quiet.done, busy.done]);
  for (const stream of [quiet, busy]) {
    t.is(stream.state.error, undefined);
    t.true(
      stream.state.completedAt! - revokedAt < 1_000,
      `ended ${Math.round(stream.state.completedAt! - revokedAt)} ms after the revocation`,
    );
    const last = stream.events.at(-1);
    t.like(last?.errors?.[0], { extensions: { code: 'SESSION_REVOKED', reason: 'LOGOUT' } });
  }
  t.is(server.controller.openConnections, 0);
  // Subscribing again with the revoked key: refused at subscribe, 401, nothing streamed.
  const again = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...server.headers('alice', key) },
    body: JSON.stringify({ query: 'subscription { ticks }' }),
  });
  t.is(again.status, 401);
  const text = await again.text();
  t.regex(text, /"code":"SESSION_REVOKED"/);
  t.notRegex(text, /"ticks"/);
});

test('subscribing is admitted like a request: the user cap refuses a new device with 403 over SSE', async (t) => {
  const server = await yoga(t, { user: { maxSessions: 1 } });
  await sessionIdOf(server, 'bob', newKey());
  const refused = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...server.headers('bob', newKey()) },
    body: JSON.stringify({ query: 'subscription { ticks }' }),
  });
  t.is(refused.status, 403);
  t.regex(await refused.text(), /"code":"SESSION_LIMIT_EXCEEDED".*"level":"USER"/s);
  // Anonymous streams pass untouched; governed subscription fields refuse them.
  const anonymous = follow(sse(server).iterate({ query: 'subscription { ticks(every: 20) }' }));
  await eventually(async () => (anonymous.events.length >= 2 ? true : undefined), 30_000);
  await anonymous.stop();
  const governed = follow(sse(server).iterate({ query: 'subscription { examTimer }' }));
  await governed.done;
  t.like(governed.events[0]?.errors?.[0], { extensions: { code: 'UNAUTHENTICATED' } });
});

test('a governed subscription holds its seat while its stream lives and gives it back when the client goes', async (t) => {
  const server = await yoga(t);
  const firstKey = newKey();
  const secondKey = newKey();
  const first = follow(sse(server, 'carol', firstKey).iterate({ query: 'subscription { examTimer }' }));
  await eventually(async () => (first.events.length >= 1 ? true : undefined), 30_000);
  t.deepEqual(first.events[0], { data: { examTimer: 1 } });
  const firstId = await sessionIdOf(server, 'carol', firstKey);
  t.deepEqual(
    (await server.controller.sessionLeases('Subscription.examTimer')).map((lease) => lease.session.id),
    [firstId],
  );
  // Another session of carol's: the one seat is taken.
  const refused = follow(sse(server, 'carol', secondKey).iterate({ query: 'subscription { examTimer }' }));
  await refused.done;
  t.like(refused.events[0]?.errors?.[0], {
    extensions: { code: 'SESSION_LIMIT_EXCEEDED', level: 'VIEW', field: 'Subscription.examTimer', limit: 1 },
  });
  // The first client goes away: the seat is free at once, and the other session takes it.
  await first.stop();
  await eventually(
    async () => ((await server.controller.sessionLeases('Subscription.examTimer')).length === 0 ? true : undefined),
    30_000,
  );
  await eventually(async () => (server.controller.openConnections === 0 ? true : undefined), 30_000);
  const second = follow(sse(server, 'carol', secondKey).iterate({ query: 'subscription { examTimer }' }));
  await eventually(async () => (second.events.length >= 1 ? true : undefined), 30_000);
  t.deepEqual(second.events[0], { data: { examTimer: 1 } });
  await second.stop();
  await eventually(async () => (server.controller.openConnections === 0 ? true : undefined), 30_000);
});
