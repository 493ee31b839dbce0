/**
 * Issue 17, items 4 and 8 (docs/contract.md §12, "Bounds, defences, origins, refusal shape"):
 * one set of defences (parse limits, validation rules, error formatting) given once to Apollo
 * and to `sessions.websocket`, one admission per operation on both transports, and one refusal
 * shape over the socket. A real Apollo server, graphql-ws's own client and raw HTTP.
 */
import { ApolloArmor } from '@escape.tech/graphql-armor';
import { makeExecutableSchema } from '@graphql-tools/schema';
import test, { type ExecutionContext } from 'ava';
import type { GraphQLFormattedError, ValidationRule } from 'graphql';
import type { SessionController } from '../src/controller.js';
import { countLive, serveAlone, sleep } from './helpers/core.js';
import type { TestContext } from './helpers/server.js';
import { connect, startWsServer, subscribe, type TestParams } from './helpers/ws.js';

const typeDefs = /* GraphQL */ `
  type Query {
    whoami: String
    nested: Nested
  }
  type Nested {
    nested: Nested
    leaf: String
  }
  type Mutation {
    login(user: String!, key: String!): String
  }
  type Subscription {
    ticks: Int! @uniqueSession(max: 1)
  }
`;

function schema(controller: SessionController<TestContext>) {
  return controller.transformSchema(
    makeExecutableSchema({
      typeDefs: [controller.typeDefs, typeDefs],
      resolvers: [
        controller.resolverMap,
        {
          Query: { whoami: () => 'someone', nested: () => ({}) },
          Nested: { nested: () => ({}), leaf: () => 'leaf' },
          Mutation: {
            // A host's login: the resolver passes its context, as docs/contract.md §12 asks.
            login: async (_: unknown, args: { user: string; key: string }, ctx: TestContext) => {
              const session = await controller.openSession({ userId: args.user, sessionKey: args.key }, ctx);
              return session.id;
            },
          },
          Subscription: {
            ticks: {
              subscribe: async function* () {
                for (let i = 0; ; i++) {
                  yield { ticks: i };
                  await sleep(100); // the stream's own pace: a subscription that lives a while
                }
              },
            },
          },
        },
      ],
    }),
  );
}

/** "Did you mean …?" maps the schema for a stranger: the host turns it off. */
const withoutSuggestions = (formatted: GraphQLFormattedError): GraphQLFormattedError => ({
  ...formatted,
  message: formatted.message.replace(/ Did you mean .+\?$/, ''),
});

/** The host's defences, built once: the same object goes to Apollo and to sessions.websocket. */
function defences() {
  const { validationRules } = new ApolloArmor({
    maxTokens: { enabled: false },
    maxAliases: { n: 15 },
    maxDepth: { n: 6 },
    costLimit: { maxCost: 5_000 },
    blockFieldSuggestion: { enabled: false },
  }).protect();
  return {
    parseOptions: { maxTokens: 1_000 },
    validationRules: validationRules as ValidationRule[],
    formatError: withoutSuggestions,
  };
}

async function both(t: ExecutionContext, { shared = true } = {}) {
  const shield = defences();
  const http = await serveAlone(t, { user: { maxSessions: 50 } }, schema, shared ? shield : {});
  const { url } = await startWsServer(t, http.controller, schema(http.controller), shared ? shield : {});
  return { http, ws: url };
}

function client(t: ExecutionContext, url: string, params: TestParams) {
  const c = connect(url, params);
  t.teardown(() => c.dispose());
  return c;
}

interface Answer {
  status: number;
  body: {
    data?: Record<string, unknown> | null;
    errors?: Array<{ message: string; extensions?: Record<string, unknown> }>;
  };
}

async function post(url: string, query: string): Promise<Answer> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query }),
  });
  return { status: response.status, body: (await response.json()) as Answer['body'] };
}

/** What the socket answered to one operation: the errors of its `error` message, or of its first result. */
async function overSocket(url: string, t: ExecutionContext, query: string, params: TestParams = {}) {
  const c = client(t, url, params);
  await c.connected;
  const stream = subscribe(c.client, query);
  await stream.waitFor(1);
  const errors = (stream.error as Answer['body']['errors']) ?? stream.results[0]?.errors;
  return { errors, asErrorMessage: Boolean(stream.error) && stream.results.length === 0, stream };
}

const ALIASES = `{ ${Array.from({ length: 20 }, (_, i) => `a${i}: whoami`).join(' ')} }`;
const TOKENS = `{ ${Array.from({ length: 1_200 }, () => 'whoami').join(' ')} }`;
const DEEP = '{ nested { nested { nested { nested { nested { nested { nested { leaf } } } } } } } }';

test('one set of defences for both transports: tokens, aliases and depth refused alike; no field suggestions', async (t) => {
  const { http, ws } = await both(t);
  for (const [what, query, pattern] of [
    ['1,200 tokens', TOKENS, /Document contains more tha[nt] 1000 tokens/],
    ['20 aliases', ALIASES, /Aliases limit of 15/],
    ['depth 8', DEEP, /Query depth limit of 6/],
  ] as const) {
    const overHttp = await post(http.url, query);
    const socket = await overSocket(ws, t, query);
    t.regex(overHttp.body.errors?.[0]?.message ?? '', pattern, `${what} over HTTP`);
    t.regex(socket.errors?.[0]?.message ?? '', pattern, `${what} over WebSocket`);
    t.true(socket.asErrorMessage, `${what}: an error message`);
  }
  const overHttp = await post(http.url, '{ whoam }');
  const socket = await overSocket(ws, t, '{ whoam }');
  t.is(overHttp.body.errors?.[0]?.message, 'Cannot query field "whoam" on type "Query".');
  t.is(socket.errors?.[0]?.message, 'Cannot query field "whoam" on type "Query".');
});

test('aliased logins admit one session per operation, over HTTP and over WebSocket', async (t) => {
  const { http, ws } = await both(t);
  const logins = (prefix: string) =>
    `mutation { ${Array.from({ length: 10 }, (_, i) => `l${i}: login(user: "zoe", key: "${prefix}-${i}")`).join(' ')} }`;

  const overHttp = await post(http.url, logins('http'));
  t.is(typeof overHttp.body.data?.l0, 'string', 'the first login of the operation is admitted');
  t.is(overHttp.status, 200, "field errors: the first login's answer reaches the client");
  t.is(overHttp.body.errors?.length, 9);
  t.true(overHttp.body.errors!.every((e) => e.extensions?.code === 'ONE_SESSION_PER_OPERATION'));
  t.is(await countLive(http.controller, 'zoe'), 1);

  const socket = await overSocket(ws, t, logins('ws'));
  t.is(typeof socket.stream.results[0]?.data?.l0, 'string');
  t.is(socket.errors?.length, 9);
  t.true(socket.errors!.every((e) => e.extensions?.code === 'ONE_SESSION_PER_OPERATION' && !e.extensions?.http));
  t.is(await countLive(http.controller, 'zoe'), 2);

  // Separate operations, concurrent, are each admitted.
  const answers = await Promise.all(
    Array.from({ length: 6 }, (_, i) => post(http.url, `mutation { login(user: "zoe", key: "one-${i}") }`)),
  );
  t.true(answers.every((a) => typeof a.body.data?.login === 'string' && !a.body.errors));
  t.is(await countLive(http.controller, 'zoe'), 8);
});

test('one refusal shape over the socket: sessionEvents and a governed subscription refuse alike, an error message with the code and no extensions.http', async (t) => {
  const { ws } = await both(t, { shared: false });
  for (const query of ['subscription { sessionEvents { type } }', 'subscription { ticks }']) {
    const refused = await overSocket(ws, t, query);
    t.true(refused.asErrorMessage, `${query}: an error message, not next + complete`);
    t.is(refused.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED', query);
    t.false('http' in (refused.errors?.[0]?.extensions ?? {}), `${query}: no extensions.http`);
  }
  // A seat refused: the same shape.
  const holder = client(t, ws, { user: 'yan', key: 'd-y1' });
  await holder.connected;
  const holding = subscribe(holder.client, 'subscription { ticks }');
  await holding.waitFor(1);
  const second = await overSocket(ws, t, 'subscription { ticks }', { user: 'yan', key: 'd-y2' });
  t.true(second.asErrorMessage);
  t.like(second.errors?.[0]?.extensions, { code: 'SESSION_LIMIT_EXCEEDED', level: 'VIEW' });
  // A query's resolver error over the socket: no status either.
  const anonymous = await overSocket(ws, t, '{ activeSessions { totalCount } }');
  t.is(anonymous.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED');
  t.false('http' in (anonymous.errors?.[0]?.extensions ?? {}));
});

test('a subscription sent over HTTP is a 400 BAD_REQUEST pointing to WebSocket, and logs nothing', async (t) => {
  const logged: string[] = [];
  const log = (m: unknown) => logged.push(String(m));
  const http = await serveAlone(t, {}, schema, {
    logger: { debug: () => {}, info: () => {}, warn: log, error: log },
    includeStacktraceInErrorResponses: true,
  });
  for (const query of ['subscription { ticks }', 'subscription { sessionEvents { type } }']) {
    const answer = await post(http.url, query);
    t.is(answer.status, 400, query);
    t.is(answer.body.errors?.[0]?.extensions?.code, 'BAD_REQUEST', query);
    t.regex(answer.body.errors?.[0]?.message ?? '', /WebSocket/);
    t.false('stacktrace' in (answer.body.errors?.[0]?.extensions ?? {}), 'no stack trace');
  }
  t.deepEqual(logged, []);
});
