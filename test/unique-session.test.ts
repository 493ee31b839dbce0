/**
 * @uniqueSession on the schema-first path (type definitions + uniqueSessionTransformer), end to
 * end through Apollo Server and graphql-request, on the embedded database or TEST_DATABASE_URL.
 * The tests of this file share one database (one PGlite start); each uses users of its own, and
 * only one test takes the app-wide `Query.seat`.
 */
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { makeExecutableSchema } from '@graphql-tools/schema';
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import type { GraphQLSchema } from 'graphql';
import type { SessionController } from '../src/controller.js';
import { uniqueSessionTransformer } from '../src/directive/transformer.js';
import { uniqueSessionTypeDefs } from '../src/directive/type-defs.js';
import { SessionConfigError } from '../src/errors.js';
import type { RejectEvent, StoreErrorEvent } from '../src/hooks.js';
import type { SessionControllerOptions } from '../src/options.js';
import { eventually } from './helpers/core.js';
import { internalsOf } from './helpers/internals.js';
import {
  failure,
  identityFromHeaders,
  type RunningServer,
  startTestServer,
  type TestContext,
} from './helpers/server.js';
import {
  ask,
  errorAt,
  governedSchema,
  type sharedDatabase,
  sleep,
  untransformedSchema,
  useSharedDatabase,
} from './helpers/unique-session.js';

const test = anyTest as TestFn<{ database: Awaited<ReturnType<typeof sharedDatabase>> }>;

useSharedDatabase(test);

type Options = Omit<SessionControllerOptions<TestContext>, 'identify' | 'database'>;
type Context = ExecutionContext<{ database: Awaited<ReturnType<typeof sharedDatabase>> }>;

/** A server (an instance) on the file's database; stopped when the test ends, whatever happens. */
async function serve(
  t: Context,
  options: Options = {},
  schema: (controller: SessionController<TestContext>) => GraphQLSchema = governedSchema,
): Promise<RunningServer> {
  const server = await startTestServer({ database: t.context.database.option(), ...options }, schema);
  t.teardown(() => server.stop());
  return server;
}

async function sessionId(s: RunningServer, userId: string, key: string): Promise<string> {
  const answer = await ask<{ me: string }>(s, userId, key, '{ me }');
  return answer.data!.me;
}

/** Every lease row of a session, live or not: proves a lease was deleted rather than ignored. */
async function leaseRows(s: RunningServer, id: string): Promise<number> {
  const rows = await internalsOf(s.controller).sql.all('select 1 from gsc_lease where session_id = ?', [id]);
  return rows.length;
}

// Timing tests run serially, before the others, so that no other test's load stretches their clocks.
test.serial('a lease unused for leaseTtl is released; using it keeps it', async (t) => {
  const s = await serve(t, { leaseTtl: 1_000 });
  t.deepEqual((await ask(s, 'tom', 't1', '{ exam }')).data, { exam: 'exam for tom' });
  // t1 keeps using the field for longer than the TTL: each use refreshes the lease.
  const until = Date.now() + 1_500;
  while (Date.now() < until) {
    await sleep(150); // use spread past the TTL: the duration is the behaviour
    t.deepEqual((await ask(s, 'tom', 't1', '{ exam }')).data, { exam: 'exam for tom' });
  }
  t.truthy(errorAt(await ask(s, 'tom', 't2', '{ exam }'), 'exam'), 'still held while in use');

  // Released once unused for leaseTtl: t2 asks until it gets the field (asking never refreshes t1's lease).
  const taken = await eventually(
    async () => {
      const { data } = await ask<{ exam: string | null }>(s, 'tom', 't2', '{ exam }');
      return data?.exam ? data : undefined;
    },
    4_000,
    100,
  );
  t.deepEqual(taken, { exam: 'exam for tom' }, 'released after leaseTtl unused');
  t.like(errorAt(await ask(s, 'tom', 't1', '{ exam }'), 'exam')?.extensions, { code: 'SESSION_LIMIT_EXCEEDED' });
});

test.serial('a lease ends when its session expires', async (t) => {
  const s = await serve(t, { idleTimeout: 1_000 });
  t.deepEqual((await ask(s, 'ed', 'e1', '{ exam }')).data, { exam: 'exam for ed' });
  t.truthy(errorAt(await ask(s, 'ed', 'e2', '{ exam }'), 'exam'));
  // e1 goes idle past the timeout (its lease alone would last leaseTtl, 5 minutes): e3 asks until
  // it gets the field.
  const taken = await eventually(
    async () => {
      const { data } = await ask<{ exam: string | null }>(s, 'ed', 'e3', '{ exam }');
      return data?.exam ? data : undefined;
    },
    4_000,
    100,
  );
  t.deepEqual(taken, { exam: 'exam for ed' });
  t.is((await failure(s.client('ed', 'e1').request('{ exam }'))).code, 'SESSION_EXPIRED');
});

test('USER scope: the holder keeps access, a second session of the user gets a field error and the rest of its data', async (t) => {
  const rejects: RejectEvent[] = [];
  const s = await serve(t, { onReject: (e) => rejects.push(e) });

  const first = await ask(s, 'alice', 'a1', '{ exam }');
  t.deepEqual(first.data, { exam: 'exam for alice' });
  t.is(first.errors, undefined);
  const again = await ask(s, 'alice', 'a1', '{ exam }');
  t.deepEqual(again.data, { exam: 'exam for alice' }, 'the holder keeps its lease');

  const second = await ask<{ hello: string; me: string; exam: string | null }>(s, 'alice', 'a2', '{ hello me exam }');
  t.is(second.status, 200, 'a refused lease is a field error, not a failed request');
  t.is(second.data?.hello, 'world');
  t.truthy(second.data?.me);
  t.is(second.data?.exam, null);
  t.is(second.errors?.length, 1);
  const refused = errorAt(second, 'exam');
  t.like(refused?.extensions, { code: 'SESSION_LIMIT_EXCEEDED', level: 'VIEW', field: 'Query.exam', limit: 1 });
  t.is(refused?.extensions?.http, undefined);

  const bob = await ask(s, 'bob', 'b1', '{ exam }');
  t.deepEqual(bob.data, { exam: 'exam for bob' }, "another user's sessions are counted apart");
  t.deepEqual((await ask(s, 'alice', 'a1', '{ exam }')).data, { exam: 'exam for alice' });

  t.is(rejects.length, 1);
  t.like(rejects[0], { level: 'VIEW', limit: 1, field: 'Query.exam', identity: { userId: 'alice' } });
  t.is(rejects[0].allowed, undefined);
  t.false('sessionKey' in rejects[0].identity, 'hooks never see the session key');
});

test('a refused lease carries no stack trace, even when Apollo shows stack traces; other errors keep theirs', async (t) => {
  // `includeStacktraceInErrorResponses` is what Apollo turns on by itself when NODE_ENV is unset.
  const s = await startTestServer(
    { database: t.context.database.option() },
    () =>
      uniqueSessionTransformer(
        makeExecutableSchema({
          typeDefs: [uniqueSessionTypeDefs, 'type Query { exam: String @uniqueSession(max: 1)  broken: String }'],
          resolvers: {
            Query: {
              exam: () => 'exam',
              broken: () => {
                throw new Error('a bug of the application');
              },
            },
          },
        }),
      ),
    { includeStacktraceInErrorResponses: true },
  );
  t.teardown(() => s.stop());
  t.deepEqual((await ask(s, 'stack', 'stack-1', '{ exam }')).data, { exam: 'exam' });
  const second = await ask(s, 'stack', 'stack-2', '{ exam broken }');
  const refused = errorAt(second, 'exam');
  t.like(refused?.extensions, { code: 'SESSION_LIMIT_EXCEEDED', level: 'VIEW' });
  t.false('stacktrace' in (refused?.extensions ?? {}), JSON.stringify(refused?.extensions));
  const bug = errorAt(second, 'broken');
  t.true(Array.isArray(bug?.extensions?.stacktrace), "the application's own error keeps its stack trace");
});

test('APP scope counts every session in the app (licence seats)', async (t) => {
  const s = await serve(t);
  t.deepEqual((await ask(s, 'alice', 'a1', '{ seat }')).data, { seat: 'seat for alice' });
  t.deepEqual((await ask(s, 'bob', 'b1', '{ seat }')).data, { seat: 'seat for bob' });
  const carol = await ask(s, 'carol', 'c1', '{ hello seat }');
  t.deepEqual(carol.data, { hello: 'world', seat: null });
  t.like(errorAt(carol, 'seat')?.extensions, {
    code: 'SESSION_LIMIT_EXCEEDED',
    level: 'VIEW',
    field: 'Query.seat',
    limit: 2,
  });
  // A second session of a user who holds a seat needs a seat of its own.
  t.like(errorAt(await ask(s, 'alice', 'a2', '{ seat }'), 'seat')?.extensions, { code: 'SESSION_LIMIT_EXCEEDED' });
  t.deepEqual((await ask(s, 'bob', 'b1', '{ seat }')).data, { seat: 'seat for bob' });
});

test('the lease ends at once when its session is revoked (logout)', async (t) => {
  const s = await serve(t);
  const r1 = await sessionId(s, 'rita', 'r1');
  t.deepEqual((await ask(s, 'rita', 'r1', '{ exam }')).data, { exam: 'exam for rita' });
  t.truthy(errorAt(await ask(s, 'rita', 'r2', '{ exam }'), 'exam'));

  await s.controller.revoke(r1, { reason: 'LOGOUT' });
  t.is(await leaseRows(s, r1), 0, 'revoking deletes the lease in the same transaction');
  t.deepEqual((await ask(s, 'rita', 'r2', '{ exam }')).data, { exam: 'exam for rita' });
  const loggedOut = await failure(s.client('rita', 'r1').request('{ exam }'));
  t.is(loggedOut.code, 'SESSION_REVOKED');
});

test('the lease ends at once when its session is evicted by the user cap', async (t) => {
  const s = await serve(t, { user: { maxSessions: 1, onLimit: 'EVICT_OLDEST' } });
  const ev1 = await sessionId(s, 'eve', 'ev1');
  t.deepEqual((await ask(s, 'eve', 'ev1', '{ exam }')).data, { exam: 'exam for eve' });
  t.is(await leaseRows(s, ev1), 1);

  // ev2's admission evicts ev1, and ev1's lease with it: ev2 gets the exam at once.
  t.deepEqual((await ask(s, 'eve', 'ev2', '{ exam }')).data, { exam: 'exam for eve' });
  t.is(await leaseRows(s, ev1), 0);
  t.is((await failure(s.client('eve', 'ev1').request('{ exam }'))).extensions.reason, 'EVICTED');
});

test('onLimit EVICT_OLDEST moves the lease from the least recently used holder to the caller', async (t) => {
  // "Least recently used" is known to the store to within leaseRecheckInterval (holders confirmed
  // that recently are served from memory); this test orders uses 1 ms apart, so it rechecks always.
  const s = await serve(t, { leaseRecheckInterval: 1 });
  const [o1, o2, o3] = [
    await sessionId(s, 'olga', 'o1'),
    await sessionId(s, 'olga', 'o2'),
    await sessionId(s, 'olga', 'o3'),
  ];
  const holders = async () => (await s.controller.leaseHolders('Query.board', 'olga')).map((h) => h.sessionId).sort();

  for (const key of ['o1', 'o2', 'o1'])
    t.deepEqual((await ask(s, 'olga', key, '{ board }')).data, { board: 'board for olga' });
  t.deepEqual(await holders(), [o1, o2].sort());
  // o2 is now the least recently used holder (o1 was used again): o3 takes its lease.
  t.deepEqual((await ask(s, 'olga', 'o3', '{ board }')).data, { board: 'board for olga' });
  t.deepEqual(await holders(), [o1, o3].sort());
  t.is(await leaseRows(s, o2), 0);
  // o2 comes back and evicts the least recently used one now: o1.
  t.deepEqual((await ask(s, 'olga', 'o2', '{ board }')).data, { board: 'board for olga' });
  t.deepEqual(await holders(), [o2, o3].sort());
});

test('an anonymous caller gets UNAUTHENTICATED on a governed field, and the rest of its data', async (t) => {
  const s = await serve(t);
  const anonymous = await ask(s, undefined, undefined, '{ hello exam }');
  t.is(anonymous.status, 200);
  t.deepEqual(anonymous.data, { hello: 'world', exam: null });
  t.is(errorAt(anonymous, 'exam')?.extensions?.code, 'UNAUTHENTICATED');
  t.is(anonymous.errors?.length, 1);
});

test('onLimit LOG_ONLY lets the caller through and calls onReject with allowed: true', async (t) => {
  const rejects: RejectEvent[] = [];
  const s = await serve(t, { onReject: (e) => rejects.push(e) });
  t.deepEqual((await ask(s, 'lou', 'l1', '{ preview }')).data, { preview: 'preview for lou' });
  t.is(rejects.length, 0);
  t.deepEqual((await ask(s, 'lou', 'l2', '{ preview }')).data, { preview: 'preview for lou' });
  t.is(rejects.length, 1);
  t.like(rejects[0], { level: 'VIEW', limit: 1, field: 'Query.preview', allowed: true, identity: { userId: 'lou' } });
  // The logged-only session holds the field like the first one: using it again reports nothing new.
  await ask(s, 'lou', 'l2', '{ preview }');
  t.is(rejects.length, 1);
});

test('a governed field on list items: one lease check per operation, each item refused or resolved', async (t) => {
  const s = await serve(t, {}, () =>
    uniqueSessionTransformer(
      makeExecutableSchema({
        typeDefs: [
          uniqueSessionTypeDefs,
          'type Query { papers: [Paper!]! }  type Paper { n: Int!  answer: String @uniqueSession(scope: APP) }',
        ],
        resolvers: { Query: { papers: () => [1, 2, 3].map((n) => ({ n, answer: `answer ${n}` })) } },
      }),
    ),
  );
  let calls = 0;
  const acquire = internalsOf(s.controller).store.leases.acquire.bind(internalsOf(s.controller).store.leases);
  internalsOf(s.controller).store.leases.acquire = (request) => {
    calls += 1;
    return acquire(request);
  };
  const pia = await ask(s, 'pia', 'p1', '{ papers { n answer } }');
  t.deepEqual(
    pia.data,
    { papers: [1, 2, 3].map((n) => ({ n, answer: `answer ${n}` })) },
    'the default resolver is wrapped too',
  );
  t.is(calls, 1);
  const pat = await ask(s, 'pat', 'p2', '{ papers { n answer } }');
  t.deepEqual(pat.data, { papers: [1, 2, 3].map((n) => ({ n, answer: null })) });
  t.deepEqual(
    pat.errors?.map((e) => [e.path, e.extensions?.field]),
    [0, 1, 2].map((i) => [['papers', i, 'answer'], 'Paper.answer']),
  );
  t.is(calls, 2);
});

test('exempt identities take seats by default', async (t) => {
  const s = await serve(t, { isExempt: (identity) => identity.groups?.includes('staff') ?? false });
  t.deepEqual((await ask(s, 'dave', 'd1', '{ exam }', ['staff'])).data, { exam: 'exam for dave' });
  t.like(errorAt(await ask(s, 'dave', 'd2', '{ exam }', ['staff']), 'exam')?.extensions, {
    code: 'SESSION_LIMIT_EXCEEDED',
  });
});

test('exemptFromLeases: true lets exempt identities past seats without taking one', async (t) => {
  const s = await serve(t, {
    isExempt: (identity) => identity.groups?.includes('staff') ?? false,
    exemptFromLeases: true,
  });
  for (const key of ['n1', 'n2', 'n3']) {
    const answer = await ask<{ me: string; exam: string; board: string }>(s, 'dan', key, '{ me exam board }', [
      'staff',
    ]);
    t.like(answer.data, { exam: 'exam for dan', board: 'board for dan' });
    t.is(await leaseRows(s, answer.data!.me), 0, 'no lease was taken');
  }
  // Non-exempt users are still limited.
  t.deepEqual((await ask(s, 'ann', 'an1', '{ exam }')).data, { exam: 'exam for ann' });
  t.truthy(errorAt(await ask(s, 'ann', 'an2', '{ exam }'), 'exam'));
});

test('the store failing on a governed field: a field error when failMode is closed, the field resolves when open', async (t) => {
  const errors: StoreErrorEvent[] = [];
  const closed = await serve(t, { onStoreError: (e) => errors.push(e) });
  const open = await serve(t, { failMode: 'open', onStoreError: (e) => errors.push(e) });
  for (const s of [closed, open]) {
    internalsOf(s.controller).store.leases.acquire = async () => {
      throw new Error('connection terminated');
    };
  }
  const refused = await ask(closed, 'sam', 's1', '{ hello exam }');
  t.is(refused.status, 200, 'only the governed field fails');
  t.deepEqual(refused.data, { hello: 'world', exam: null });
  t.is(errorAt(refused, 'exam')?.extensions?.code, 'SESSION_STORE_UNAVAILABLE');
  t.deepEqual((await ask(open, 'sue', 's2', '{ hello exam }')).data, { hello: 'world', exam: 'exam for sue' });
  t.deepEqual(
    errors.map((e) => [e.operation, e.error.message]),
    [
      ['lease', 'connection terminated'],
      ['lease', 'connection terminated'],
    ],
  );
});

test('invalid directive arguments fail when the schema is transformed, naming the field', (t) => {
  const transform = (field: string) => () =>
    uniqueSessionTransformer(
      makeExecutableSchema({
        typeDefs: [uniqueSessionTypeDefs, `type Query { hello: String  exam: String ${field} }`],
      }),
    );
  t.throws(transform('@uniqueSession(max: 0)'), {
    instanceOf: SessionConfigError,
    message: /Query\.exam.*"max" must be a whole number/,
  });
  t.throws(transform('@uniqueSession(max: -3, scope: APP)'), {
    instanceOf: SessionConfigError,
    message: /Query\.exam/,
  });
  t.throws(transform('@uniqueSession(scope: EVERYONE)'), {
    instanceOf: SessionConfigError,
    message: /Query\.exam.*scope/,
  });
  t.throws(transform('@uniqueSession(onLimit: QUEUE)'), {
    instanceOf: SessionConfigError,
    message: /Query\.exam.*onLimit/,
  });
  t.throws(transform('@uniqueSession(max: 1.5)'), { instanceOf: SessionConfigError, message: /Query\.exam/ });
  t.notThrows(transform('@uniqueSession(max: 3, scope: APP, onLimit: EVICT_OLDEST)'));
});

test('a schema whose @uniqueSession fields nothing enforces is refused at server start', async (t) => {
  const error = await t.throwsAsync(
    startTestServer({ database: t.context.database.option() }, () => untransformedSchema()),
  );
  t.regex(error!.message, /Query\.exam has @uniqueSession but nothing enforces it.*controller\.transformSchema/);
});

test('@uniqueSession on an interface field is refused at server start unless every implementation enforces it', async (t) => {
  const typeDefs = (onObject: string) => [
    uniqueSessionTypeDefs,
    `interface Paper { answer: String @uniqueSession }
     type Essay implements Paper { answer: String ${onObject} }
     type Query { paper: Paper }`,
  ];
  const error = await t.throwsAsync(
    startTestServer({ database: t.context.database.option() }, () =>
      uniqueSessionTransformer(makeExecutableSchema({ typeDefs: typeDefs('') })),
    ),
  );
  t.regex(error!.message, /interface field Paper\.answer is not enforced on Essay\.answer/);
  await t.notThrowsAsync(
    serve(t, {}, () => uniqueSessionTransformer(makeExecutableSchema({ typeDefs: typeDefs('@uniqueSession') }))),
  );
});

test('without the plugin, a governed field fails with an error that says so; other fields resolve', async (t) => {
  const server = new ApolloServer<TestContext>({ schema: governedSchema() });
  const { url } = await startStandaloneServer(server, {
    listen: { port: 0, host: '127.0.0.1' },
    context: async ({ req }) => ({ identity: identityFromHeaders(req.headers) }),
  });
  t.teardown(() => server.stop());
  const answer = await ask({ url }, 'alice', 'a1', '{ hello exam }');
  t.deepEqual(answer.data, { hello: 'world', exam: null });
  t.regex(errorAt(answer, 'exam')!.message, /Query\.exam is governed by @uniqueSession.*controller\.plugin\(\)/);
});

test('inert when the controller is disabled: governed fields resolve as if undecorated', async (t) => {
  const s = await serve(t, { enabled: false }, (controller) => controller.transformSchema(untransformedSchema()));
  for (const key of ['i1', 'i2', 'i3']) {
    t.deepEqual((await ask(s, 'ivan', key, '{ exam board }')).data, {
      exam: 'exam for nobody',
      board: 'board for nobody',
    });
  }
  const anonymous = await ask(s, undefined, undefined, '{ exam }');
  t.deepEqual(anonymous.data, { exam: 'exam for nobody' });
  t.is(anonymous.errors, undefined);
  const rows = await internalsOf(s.controller).sql.all("select 1 from gsc_lease where scope_key = 'ivan'");
  t.is(rows.length, 0);
});
