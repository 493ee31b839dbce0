import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { makeExecutableSchema } from '@graphql-tools/schema';
import test, { type ExecutionContext } from 'ava';
import { GraphQLError } from 'graphql';
import { SessionController } from '../src/controller.js';
import { ownDatabase } from './helpers/core.js';
import { recordingLogger } from './helpers/logger.js';
import { identityFromHeaders, type TestContext } from './helpers/server.js';

/*
 * Issue 18, items 1, 3 and 4: the plugin beside other Apollo plugins.
 * 1. A refusal is never an unhandled rejection, whatever another plugin's didResolveOperation
 *    does (throwing synchronously after ours, or before ours).
 * 3. Only the library's own errors lose their stack traces: a host's FORBIDDEN and Apollo's
 *    BAD_USER_INPUT keep theirs, in the response (development) and for later plugins.
 * 4. A controller shared by two servers never logs through the last-started one's logger.
 */

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
process.on('unhandledRejection', onUnhandled);
test.after.always(() => process.off('unhandledRejection', onUnhandled));

/** Node reports an unhandled rejection once the microtasks of the current macrotask are done. */
async function nextTurns(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

const typeDefs = /* GraphQL */ `
  type Query {
    hello: String!
    secret: String
    twice(n: Int!): Int!
  }
`;

function schema() {
  return makeExecutableSchema({
    typeDefs,
    resolvers: {
      Query: {
        hello: () => 'world',
        // The host's own authorization error: a code the library also uses, but not the library's.
        secret: () => {
          throw new GraphQLError('Not yours.', { extensions: { code: 'FORBIDDEN' } });
        },
        twice: (_: unknown, { n }: { n: number }) => 2 * n,
      },
    },
  });
}

interface Served {
  url: string;
  server: ApolloServer<TestContext>;
  post(body: object, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
}

async function startServer(
  t: ExecutionContext,
  plugins: ApolloServerPlugin<TestContext>[],
  settings: { logger?: ReturnType<typeof recordingLogger>['logger']; includeStacktraceInErrorResponses?: boolean } = {},
  { stopInTeardown = true } = {},
): Promise<Served> {
  const server = new ApolloServer<TestContext>({ schema: schema(), plugins, ...settings });
  const { url } = await startStandaloneServer(server, {
    listen: { port: 0, host: '127.0.0.1' },
    context: async ({ req }) => ({ identity: identityFromHeaders(req.headers) }),
  });
  if (stopInTeardown) t.teardown(() => server.stop());
  return {
    url,
    server,
    async post(body, headers = {}) {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });
      return { status: response.status, body: await response.json() };
    },
  };
}

async function controllerFor(
  t: ExecutionContext,
  options: Partial<Parameters<typeof SessionController.create<TestContext>>[0]> = {},
): Promise<SessionController<TestContext>> {
  const db = await ownDatabase(t);
  const controller = await SessionController.create<TestContext>({
    database: db.option(),
    identify: (ctx) => ctx.identity,
    ...options,
  });
  t.teardown(() => controller.close());
  return controller;
}

/** Another plugin whose didResolveOperation throws synchronously, as a hand-written one may. */
function throwingPlugin(): ApolloServerPlugin<TestContext> {
  return {
    async requestDidStart() {
      return {
        didResolveOperation() {
          throw new GraphQLError('the other plugin says no', { extensions: { code: 'OTHER_PLUGIN' } });
        },
      } as never;
    },
  };
}

const as = (userId: string, sessionKey: string) => ({ 'x-user': userId, 'x-session': sessionKey });

// ---------------------------------------------------------------------------------------------
// 1. Refusals are always handled
// ---------------------------------------------------------------------------------------------

for (const order of ['after ours', 'before ours'] as const) {
  test.serial(
    `a plugin that throws synchronously in didResolveOperation ${order}: a refused request (revoked, over the cap) leaves no unhandled rejection and does not execute`,
    async (t) => {
      unhandled.length = 0;
      const controller = await controllerFor(t, { user: { maxSessions: 1 } });
      const ours = controller.plugin() as ApolloServerPlugin<TestContext>;
      const s = await startServer(t, order === 'after ours' ? [ours, throwingPlugin()] : [throwingPlugin(), ours]);

      // A revoked token: refused from the controller's memory, synchronously.
      const revoked = await controller.openSession({ userId: 'ann', sessionKey: 'ann-revoked' });
      await controller.revoke(revoked.id, { reason: 'LOGOUT' });
      // Over the user cap: refused after a store round trip.
      await controller.openSession({ userId: 'bob', sessionKey: 'bob-1' });

      for (const [user, key] of [
        ['ann', 'ann-revoked'],
        ['bob', 'bob-2'],
      ] as const) {
        const answer = await s.post({ query: '{ hello }' }, as(user, key));
        t.not(answer.status, 200, `${user}'s refused request is not served`);
        t.is(answer.body.data, undefined, 'nothing executed');
        t.truthy(answer.body.errors?.length);
        await nextTurns();
      }
      t.deepEqual(
        unhandled.map(String),
        [],
        'a refusal must never become an unhandled rejection (Node exits on one by default)',
      );
    },
  );
}

// ---------------------------------------------------------------------------------------------
// 3. Only the library's own errors lose their stack traces
// ---------------------------------------------------------------------------------------------

/** An error reporter, listed after our plugin: it sees each error as Apollo hands it over. */
function errorReporter(seen: Array<{ code: unknown; stack: string | undefined }>): ApolloServerPlugin<TestContext> {
  return {
    async requestDidStart() {
      return {
        async didEncounterErrors({ errors }) {
          for (const error of errors) seen.push({ code: error.extensions?.code, stack: error.stack });
        },
      };
    },
  };
}

test.serial(
  "a host's FORBIDDEN and Apollo's BAD_USER_INPUT keep their stack traces (response and later plugins); the library's refusals lose theirs",
  async (t) => {
    const controller = await controllerFor(t, { user: { maxSessions: 1 } });
    const seen: Array<{ code: unknown; stack: string | undefined }> = [];
    const s = await startServer(t, [controller.plugin() as ApolloServerPlugin<TestContext>, errorReporter(seen)], {
      // As on a development machine (NODE_ENV unset).
      includeStacktraceInErrorResponses: true,
    });

    const host = await s.post({ query: '{ secret }' }, as('ann', 'ann-1'));
    const hostError = host.body.errors?.[0];
    t.is(hostError?.extensions?.code, 'FORBIDDEN');
    t.true(Array.isArray(hostError?.extensions?.stacktrace), "the host's own FORBIDDEN keeps its stack trace");

    const apollo = await s.post(
      { query: 'query($n: Int!) { twice(n: $n) }', variables: { n: 'two' } },
      as('ann', 'ann-1'),
    );
    const apolloError = apollo.body.errors?.[0];
    t.is(apolloError?.extensions?.code, 'BAD_USER_INPUT');
    t.true(Array.isArray(apolloError?.extensions?.stacktrace), "Apollo's BAD_USER_INPUT keeps its stack trace");

    const ours = await s.post({ query: '{ hello }' }, as('ann', 'ann-2'));
    t.is(ours.body.errors?.[0]?.extensions?.code, 'SESSION_LIMIT_EXCEEDED');
    t.false('stacktrace' in (ours.body.errors?.[0]?.extensions ?? {}), "the library's refusal shows no stack");

    const reported = (code: string) => seen.filter((e) => e.code === code);
    t.true(reported('FORBIDDEN').length > 0 && reported('FORBIDDEN').every((e) => typeof e.stack === 'string'));
    t.true(
      reported('BAD_USER_INPUT').length > 0 && reported('BAD_USER_INPUT').every((e) => typeof e.stack === 'string'),
    );
    t.true(reported('SESSION_LIMIT_EXCEEDED').every((e) => e.stack === undefined));
  },
);

// ---------------------------------------------------------------------------------------------
// 4. Each controller logs through its own logger
// ---------------------------------------------------------------------------------------------

test.serial(
  "a controller shared by two servers does not log through the last-started server's logger, even after it stopped",
  async (t) => {
    let failures = 0;
    const controller = await controllerFor(t, {
      onAdmit: () => {
        throw new Error(`onAdmit failure ${++failures}`);
      },
    });
    const first = recordingLogger();
    const second = recordingLogger();
    const plugin = () => controller.plugin() as ApolloServerPlugin<TestContext>;
    const a = await startServer(t, [plugin()], { logger: first.logger });
    const b = await startServer(t, [plugin()], { logger: second.logger }, { stopInTeardown: false });

    t.is((await a.post({ query: '{ hello }' }, as('ann', 'ann-1'))).status, 200);
    t.true(
      first.lines.some((line) => line.includes('onAdmit failure 1')),
      `while both run, the first server's logger gets the controller's lines; first: ${JSON.stringify(first.lines)}, second: ${JSON.stringify(second.lines)}`,
    );

    await b.server.stop();
    t.is((await a.post({ query: '{ hello }' }, as('bob', 'bob-1'))).status, 200);
    t.true(first.lines.some((line) => line.includes('onAdmit failure 2')));
    t.false(
      second.lines.some((line) => line.includes('onAdmit failure')),
      "nothing goes to the logger of a server that is not the controller's first, nor after it stopped",
    );
  },
);

test.serial('with a logger option, every line goes there, whatever servers start and stop', async (t) => {
  const own = recordingLogger();
  const controller = await controllerFor(t, {
    logger: own.logger,
    onAdmit: () => {
      throw new Error('onAdmit failure with own logger');
    },
  });
  const apollo = recordingLogger();
  const a = await startServer(t, [controller.plugin() as ApolloServerPlugin<TestContext>], {
    logger: apollo.logger,
  });
  t.is((await a.post({ query: '{ hello }' }, as('ann', 'ann-1'))).status, 200);
  t.true(own.lines.some((line) => line.includes('onAdmit failure with own logger')));
  t.false(apollo.lines.some((line) => line.includes('onAdmit failure')));
});
