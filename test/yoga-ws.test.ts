// graphql-ws through Yoga, as Yoga documents it (`useServer` with Yoga's `getEnveloped` on the
// socket): the envelop plugin governs every operation on the socket as it governs HTTP
// (docs/contract.md §14). A revoked session's subscriptions end within 1 s with the refusal in
// their last event, its next operations are refused, and `@uniqueSession` seats are held while a
// subscription lives and given back when its socket closes. Driven by graphql-ws's own client.
import test, { type ExecutionContext } from 'ava';
import { type Client, createClient, type FormattedExecutionResult } from 'graphql-ws';
import WebSocket from 'ws';
import { newKey } from './helpers/api.js';
import { eventually } from './helpers/core.js';
import { createTestDatabase } from './helpers/database.js';
import { identityHeaders, startYogaServer, type YogaTestServer } from './helpers/yoga.js';

type Event = FormattedExecutionResult<Record<string, unknown>, unknown>;

async function yoga(t: ExecutionContext): Promise<YogaTestServer> {
  const db = await createTestDatabase();
  t.teardown(() => db.drop());
  const server = await startYogaServer({ database: db.option() }, undefined, { websocket: true });
  t.teardown(() => server.stop());
  return server;
}

/** graphql-ws's client presenting this identity in its connectionParams; no retries. */
function ws(t: ExecutionContext, server: YogaTestServer, userId: string, sessionKey: string): Client {
  const client = createClient({
    url: server.wsUrl,
    webSocketImpl: WebSocket,
    connectionParams: identityHeaders(userId, sessionKey),
    retryAttempts: 0,
    lazy: true,
  });
  t.teardown(() => client.dispose());
  return client;
}

/** Reads a subscription in the background: every event, and when (and how) it ended. */
function follow(client: Client, query: string) {
  const events: Event[] = [];
  const state = { endedAt: undefined as number | undefined, error: undefined as unknown };
  let ended!: () => void;
  const done = new Promise<void>((resolve) => (ended = resolve));
  const finish = (error?: unknown) => {
    state.error = error;
    state.endedAt = performance.now();
    ended();
  };
  const stop = client.subscribe<Record<string, unknown>>(
    { query },
    { next: (event) => void events.push(event), error: finish, complete: () => finish() },
  );
  return { events, state, done, stop };
}

async function once(client: Client, query: string): Promise<Event> {
  const stream = follow(client, query);
  await stream.done;
  if (stream.state.error) throw stream.state.error;
  return stream.events[0]!;
}

test('operations on the socket are governed: the session is seen by resolvers, its revocation ends its subscriptions within 1 s', async (t) => {
  const server = await yoga(t);
  const key = newKey();
  const client = ws(t, server, 'alice', key);
  const { data } = await once(client, '{ whoami }');
  const whoami = String(data?.whoami);
  t.regex(whoami, /^alice:[0-9a-f-]{36}$/);

  // An idle subscription (no event for minutes) and a busy one.
  const quiet = follow(client, 'subscription { ticks(every: 600000) }');
  const busy = follow(client, 'subscription { ticks(every: 50) }');
  await eventually(
    async () => (busy.events.length >= 2 && server.controller.openConnections === 2 ? true : undefined),
    30_000,
  );
  const revokedAt = performance.now();
  await server.controller.revoke(whoami.slice('alice:'.length), { reason: 'LOGOUT' });
  await Promise.all([quiet.done, busy.done]);
  for (const stream of [quiet, busy]) {
    t.is(stream.state.error, undefined, 'completed');
    const after = stream.state.endedAt! - revokedAt;
    t.true(after < 1_000, `ended ${Math.round(after)} ms after the revocation`);
    t.like(stream.events.at(-1)?.errors?.[0], { extensions: { code: 'SESSION_REVOKED', reason: 'LOGOUT' } });
  }
  t.is(server.controller.openConnections, 0);

  // The revoked key's next operations on the socket are refused, nothing executes.
  const query = await once(client, '{ whoami }');
  t.like(query.errors?.[0], { extensions: { code: 'SESSION_REVOKED' } });
  t.is(query.data ?? undefined, undefined);
  const again = follow(client, 'subscription { ticks }');
  await again.done;
  t.like(again.events[0]?.errors?.[0], { extensions: { code: 'SESSION_REVOKED' } });
  t.is(again.events.length, 1);
});

test('a @uniqueSession subscription holds its seat while it lives, and gives it back when its socket closes', async (t) => {
  const server = await yoga(t);
  const first = ws(t, server, 'bob', newKey());
  const holder = follow(first, 'subscription { examTimer }');
  await eventually(async () => (holder.events.length >= 1 ? true : undefined), 30_000);
  t.deepEqual(holder.events[0]?.data, { examTimer: 1 });

  // Another session of the same user: the seat is taken.
  const second = ws(t, server, 'bob', newKey());
  const refused = follow(second, 'subscription { examTimer }');
  await refused.done;
  t.like(refused.events[0]?.errors?.[0], { extensions: { code: 'SESSION_LIMIT_EXCEEDED' } });
  t.is(holder.state.endedAt, undefined, 'the holder streams on');

  // The holder's socket goes (a closed tab): the seat is free again, at once.
  await first.dispose();
  await holder.done;
  const taken = follow(second, 'subscription { examTimer }');
  await eventually(async () => (taken.events.length >= 1 || taken.state.endedAt ? true : undefined), 30_000);
  t.deepEqual(taken.events[0], { data: { examTimer: 1 } });
  taken.stop();
});

test('a refused identity never executes on the socket: its operation answers with the refusal (the cap)', async (t) => {
  const db = await createTestDatabase();
  t.teardown(() => db.drop());
  const server = await startYogaServer({ database: db.option(), user: { maxSessions: 1 } }, undefined, {
    websocket: true,
  });
  t.teardown(() => server.stop());
  t.truthy((await once(ws(t, server, 'carol', newKey()), '{ whoami }')).data?.whoami);
  const over = await once(ws(t, server, 'carol', newKey()), '{ whoami }');
  t.like(over.errors?.[0], { extensions: { code: 'SESSION_LIMIT_EXCEEDED', level: 'USER' } });
  t.is(over.data ?? undefined, undefined);
});
