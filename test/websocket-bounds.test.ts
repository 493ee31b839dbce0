/**
 * Issue 17, items 3 and 5 and the origin policy (docs/contract.md §12, "Bounds, defences,
 * origins, refusal shape"): the bounds of `sessions.websocket(...)` and its allowed origins, seen
 * from graphql-ws's own client and raw `ws` sockets against a real server.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { makeExecutableSchema } from '@graphql-tools/schema';
import test, { type ExecutionContext } from 'ava';
import { useServer } from 'graphql-ws/use/ws';
import WebSocket, { WebSocketServer } from 'ws';
import type { SessionController } from '../src/controller.js';
import { SessionConfigError } from '../src/errors.js';
import { eventually, serveAlone, sleep } from './helpers/core.js';
import type { TestContext } from './helpers/server.js';
import { connect, startWsServer, subscribe, type TestParams, upgrade } from './helpers/ws.js';

const typeDefs = /* GraphQL */ `
  type Query {
    whoami: String
  }
  type Subscription {
    clock: Int!
  }
`;

function schema(controller: SessionController<TestContext>) {
  return makeExecutableSchema({
    typeDefs: [controller.typeDefs, typeDefs],
    resolvers: [
      controller.resolverMap,
      {
        Query: { whoami: () => 'someone' },
        Subscription: {
          clock: {
            subscribe: async function* () {
              for (let i = 0; ; i++) {
                yield { clock: i };
                await sleep(100); // the stream's own pace: a subscription that lives a while
              }
            },
          },
        },
      },
    ],
  });
}

type Options = Parameters<typeof startWsServer>[3];

async function server(t: ExecutionContext, options: Options = {}) {
  const http = await serveAlone(t, {}, schema);
  const { url } = await startWsServer(t, http.controller, schema(http.controller), options);
  return { http, url };
}

function client(t: ExecutionContext, url: string, params: TestParams) {
  const c = connect(url, params);
  t.teardown(() => c.dispose());
  return c;
}

test('a 1 MB document from an anonymous socket is refused before parsing (1009), and the server goes on serving', async (t) => {
  const { http, url } = await server(t);
  const watcher = client(t, url, { user: 'alice', key: 'b-a1' });
  await watcher.connected;
  const ticking = subscribe<{ clock: number }>(watcher.client, 'subscription { clock }');
  await ticking.waitFor(1);

  const attacker = client(t, url, {});
  await attacker.connected;
  const aliases = Array.from({ length: 80_000 }, (_, i) => `a${i}: whoami`).join(' ');
  const document = `{ ${aliases} }`;
  t.true(document.length > 1_000_000);
  subscribe(attacker.client, document);
  const closed = await attacker.closed;
  t.is(closed.code, 1009, 'ws closes a message over maxPayload with 1009 Message Too Big');

  // Everyone else is served as before.
  const seen = ticking.results.length;
  await ticking.waitFor(seen + 2);
  t.true(ticking.results.length >= seen + 2);
  t.is((await http.client().request<{ whoami: string }>('{ whoami }')).whoami, 'someone');
});

test('connectionParams: 8 MB are refused by the message bound (1009); past maxConnectionParamsBytes, 4400', async (t) => {
  const { url } = await server(t);
  const huge = client(t, url, { user: 'bob', key: 'b-b1', token: 'x'.repeat(8 * 1024 * 1024) } as TestParams);
  t.is((await huge.closed).code, 1009);

  const large = client(t, url, { user: 'bob', key: 'b-b2', padding: 'x'.repeat(20_000) } as TestParams);
  t.deepEqual(await large.closed.then((c) => [c.code, c.reason]), [4400, 'WEBSOCKET_LIMIT_EXCEEDED:CONNECTION_PARAMS']);
  const fine = client(t, url, { user: 'bob', key: 'b-b3', padding: 'x'.repeat(10_000) } as TestParams);
  await fine.connected;
  t.pass();
});

test('the 101st operation running on one socket is refused with an error message WEBSOCKET_LIMIT_EXCEEDED; one completes, one more fits', async (t) => {
  const { url } = await server(t);
  const carol = client(t, url, { user: 'carol', key: 'b-c1' });
  await carol.connected;
  const streams = Array.from({ length: 100 }, () =>
    subscribe<{ clock: number }>(carol.client, 'subscription { clock }'),
  );
  await Promise.all(streams.map((s) => s.waitFor(1)));
  t.true(streams.every((s) => s.results.length >= 1 && !s.error));

  const refused = subscribe(carol.client, 'subscription { clock }');
  await refused.waitFor(1);
  t.true(refused.done);
  t.is(refused.results.length, 0, 'an error message, not a result');
  t.like((refused.error as Array<{ extensions: Record<string, unknown> }>)[0].extensions, {
    code: 'WEBSOCKET_LIMIT_EXCEEDED',
    bound: 'maxSubscriptionsPerSocket',
    limit: 100,
  });

  streams[0].unsubscribe();
  const next = await eventually(async () => {
    const attempt = subscribe<{ clock: number }>(carol.client, 'subscription { clock }');
    await attempt.waitFor(1);
    if (attempt.results.length) return attempt;
    return undefined;
  }, 3_000);
  t.is(next.results[0].data?.clock, 0);
});

test('the 11th socket of one session is closed with 4429 WEBSOCKET_LIMIT_EXCEEDED:SOCKETS_PER_SESSION; a closed one frees its place', async (t) => {
  const { url } = await server(t);
  const sockets = Array.from({ length: 10 }, () => client(t, url, { user: 'dan', key: 'b-d1' }));
  await Promise.all(sockets.map((s) => s.connected));
  const eleventh = client(t, url, { user: 'dan', key: 'b-d1' });
  t.deepEqual(await eleventh.closed.then((c) => [c.code, c.reason]), [
    4429,
    'WEBSOCKET_LIMIT_EXCEEDED:SOCKETS_PER_SESSION',
  ]);
  // Another session of the same user is counted apart.
  await client(t, url, { user: 'dan', key: 'b-d2' }).connected;

  await sockets[0].dispose();
  await connectsAgain(t, url, { user: 'dan', key: 'b-d1' });
  t.pass();
});

test('past maxAnonymousSockets an anonymous socket is closed with 1013 WEBSOCKET_LIMIT_EXCEEDED:ANONYMOUS_SOCKETS; signed-in ones still connect', async (t) => {
  const { url } = await server(t, { limits: { maxAnonymousSockets: 3 } });
  const anonymous = Array.from({ length: 3 }, () => client(t, url, {}));
  await Promise.all(anonymous.map((s) => s.connected));
  const fourth = client(t, url, {});
  t.deepEqual(await fourth.closed.then((c) => [c.code, c.reason]), [
    1013,
    'WEBSOCKET_LIMIT_EXCEEDED:ANONYMOUS_SOCKETS',
  ]);
  await client(t, url, { user: 'eve', key: 'b-e1' }).connected;

  await anonymous[0].dispose();
  await connectsAgain(t, url, {});
  t.pass();
});

test('allowedOrigins, default same-origin: a page of this host and a client without Origin connect; a foreign page gets 403 at the upgrade', async (t) => {
  const { url } = await server(t);
  const host = new URL(url).host;
  t.is(await upgrade(url), 'open');
  t.is(await upgrade(url, `http://${host}`), 'open');
  t.is(await upgrade(url, 'https://evil.example'), 403);
  t.is(await upgrade(url, `http://${host}.evil.example`), 403);
});

test('allowedOrigins as a list: listed origins and clients without Origin connect; others get 403 before any message', async (t) => {
  const { url } = await server(t, { allowedOrigins: ['https://app.example.com'] });
  t.is(await upgrade(url, 'https://app.example.com'), 'open');
  t.is(await upgrade(url), 'open');
  t.is(await upgrade(url, `http://${new URL(url).host}`), 403);
  t.is(await upgrade(url, 'https://app.example.com.evil.example'), 403);
});

test('bad bounds and origins are refused when the server is set up, with the option named', async (t) => {
  const http = await serveAlone(t, {}, schema);
  const base = { schema: schema(http.controller), context: () => ({ identity: null }) };
  for (const [options, message] of [
    [{ limits: { maxPayload: 0 } }, /"limits.maxPayload".*positive integer/],
    [{ limits: { maxSocketsPerSession: 1.5 } }, /"limits.maxSocketsPerSession"/],
    [{ limits: { maxSubscriptions: 5 } }, /Unknown option "limits.maxSubscriptions"/],
    [{ allowedOrigins: ['https://app.example.com/'] }, /"allowedOrigins".*not an origin/],
    [{ allowedOrigins: 'https://app.example.com' }, /"allowedOrigins"/],
    [{ validationRules: 'depth' }, /"validationRules"/],
  ] as const) {
    t.throws(() => http.controller.websocket({ ...base, ...(options as object) }), {
      instanceOf: SessionConfigError,
      message,
    });
  }
});

test('a WebSocketServer built without serverOptions refuses every connection with 4500 and says why in the log, once', async (t) => {
  const logged: string[] = [];
  const http = await serveAlone(
    t,
    { logger: { warn: (m: string) => logged.push(m), error: (m: string) => logged.push(m) } },
    schema,
  );
  const httpServer = createServer();
  const wss = new WebSocketServer({ server: httpServer, path: '/graphql' });
  const cleanup = useServer(
    http.controller.websocket({ schema: schema(http.controller), context: () => ({ identity: null }) }),
    wss,
  );
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  t.teardown(async () => {
    await cleanup.dispose();
    await new Promise<void>((resolve) => httpServer.close(() => resolve()));
  });
  const url = `ws://127.0.0.1:${(httpServer.address() as AddressInfo).port}/graphql`;
  for (let i = 0; i < 2; i++) {
    const refused = client(t, url, {});
    t.deepEqual(await refused.closed.then((c) => [c.code, c.reason]), [4500, 'WEBSOCKET_SERVER_MISCONFIGURED']);
  }
  t.is(logged.filter((m) => m.includes('serverOptions')).length, 1);
});

test('a socket that goes while its connect is still being checked takes no place under the bounds', async (t) => {
  // A slow identify: each connect is checked for 300 ms, long enough for the client to leave.
  let checking = 0;
  const http = await serveAlone(
    t,
    {
      identify: async (ctx: TestContext) => {
        checking++;
        await sleep(300); // a slow host function, simulated
        checking--;
        return ctx.identity;
      },
    },
    schema,
  );
  const { url } = await startWsServer(t, http.controller, schema(http.controller), {
    limits: { maxAnonymousSockets: 2 },
  });
  const gone = Array.from({ length: 5 }, () => {
    const raw = new WebSocket(url, 'graphql-transport-ws');
    return new Promise<void>((resolve) => {
      raw.once('open', () => {
        raw.send(JSON.stringify({ type: 'connection_init', payload: {} }));
        setTimeout(() => raw.terminate(), 20);
      });
      raw.once('close', () => resolve());
    });
  });
  await Promise.all(gone);
  // No check of those that left is still running: had any kept its place, the two below would be refused.
  await eventually(async () => (checking === 0 ? true : undefined), 5_000);
  const stayed = [client(t, url, {}), client(t, url, {})];
  await Promise.all(stayed.map((c) => c.connected));
  t.pass();
});

/** Waits until a socket with `params` is accepted again (a place under a bound was given back). */
async function connectsAgain(t: ExecutionContext, url: string, params: TestParams): Promise<void> {
  await eventually(async () => {
    const again = connect(url, params);
    t.teardown(() => again.dispose());
    return again.connected.then(
      () => true,
      () => undefined,
    );
  }, 3_000);
}
