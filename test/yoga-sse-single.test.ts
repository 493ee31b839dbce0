// graphql-sse's single connection mode on Yoga (`@graphql-yoga/plugin-graphql-sse`, which runs
// every operation through Yoga's `getEnveloped`): the envelop plugin governs its operations as it
// governs Yoga's own SSE (docs/contract.md §14). A revoked session's streams on the one connection
// end within 1 s with the refusal as their last event, and its next operation is refused.
// Driven by graphql-sse's own client with `singleConnection: true`.
import { useGraphQLSSE } from '@graphql-yoga/plugin-graphql-sse';
import test from 'ava';
import { createClient } from 'graphql-sse';
import { newKey } from './helpers/api.js';
import { eventually } from './helpers/core.js';
import { createTestDatabase } from './helpers/database.js';
import { follow } from './helpers/streams.js';
import { startYogaServer } from './helpers/yoga.js';

test('single connection mode: a revoked session’s streams end within 1 s, SESSION_REVOKED last, and its next operation is refused', async (t) => {
  const db = await createTestDatabase();
  t.teardown(() => db.drop());
  const server = await startYogaServer({ database: db.option() }, undefined, { plugins: [useGraphQLSSE()] });
  t.teardown(() => server.stop());
  const key = newKey();
  const connect = (userId = 'alice', sessionKey = key) => {
    const client = createClient({
      url: `${server.url}/stream`,
      singleConnection: true,
      headers: server.headers(userId, sessionKey),
      retryAttempts: 0,
    });
    t.teardown(() => client.dispose());
    return client;
  };
  const client = connect();

  const asked = follow(client.iterate({ query: '{ whoami }' }));
  await asked.done;
  const whoami = String(asked.events[0]?.data?.whoami);
  t.regex(whoami, /^alice:[0-9a-f-]{36}$/);

  const quiet = follow(client.iterate({ query: 'subscription { ticks(every: 600000) }' }));
  const busy = follow(client.iterate({ query: 'subscription { ticks(every: 50) }' }));
  await eventually(
    async () => (busy.events.length >= 2 && server.controller.openConnections === 2 ? true : undefined),
    30_000,
  );
  const revokedAt = performance.now();
  await server.controller.revoke(whoami.slice('alice:'.length), { reason: 'LOGOUT' });
  await Promise.all([quiet.done, busy.done]);
  for (const stream of [quiet, busy]) {
    t.is(stream.state.error, undefined);
    const after = stream.state.completedAt! - revokedAt;
    t.true(after < 1_000, `ended ${Math.round(after)} ms after the revocation`);
    t.like(stream.events.at(-1)?.errors?.[0], { extensions: { code: 'SESSION_REVOKED', reason: 'LOGOUT' } });
  }
  t.is(server.controller.openConnections, 0);

  // A new connection of the revoked key: its operation is refused, nothing streams.
  const again = follow(connect().iterate({ query: 'subscription { ticks }' }));
  await again.done;
  // graphql-sse answers an operation refused at subscribe with 400, whatever the refusal's status.
  t.is((again.state.error as { response?: Response } | undefined)?.response?.status, 400);
  t.deepEqual(again.events, []);
  // Whereas a live session's new connection streams.
  const other = follow(connect('bob', newKey()).iterate({ query: 'subscription { ticks(every: 50) }' }));
  await eventually(async () => (other.events.length >= 1 || other.state.completedAt ? true : undefined), 30_000);
  t.deepEqual(other.events[0], { data: { ticks: 1 } });
});
