/**
 * The holder's fast path of @uniqueSession (issue 5): a lease confirmed within
 * leaseRecheckInterval is served from memory; `strict: true` fields read through every time; a
 * lease in steady use is still refreshed in the store, so it never lapses under its holder.
 */
import { makeExecutableSchema } from '@graphql-tools/schema';
import test from 'ava';
import type { SessionController } from '../src/controller.js';
import { uniqueSessionTransformer } from '../src/directive/transformer.js';
import { uniqueSessionTypeDefs } from '../src/directive/type-defs.js';
import { eventually } from './helpers/core.js';
import { createTestDatabase } from './helpers/database.js';
import { internalsOf } from './helpers/internals.js';
import { type RunningServer, startTestServer, type TestContext } from './helpers/server.js';
import { ask, errorAt, sleep } from './helpers/unique-session.js';

const schema = () =>
  uniqueSessionTransformer(
    makeExecutableSchema({
      typeDefs: [
        uniqueSessionTypeDefs,
        /* GraphQL */ `
          type Query {
            exam: String @uniqueSession
            vault: String @uniqueSession(strict: true)
          }
        `,
      ],
      resolvers: { Query: { exam: () => 'exam', vault: () => 'vault' } },
    }),
  );

/** Counts the store acquisitions a controller makes: the database round trips of governed fields. */
function countAcquisitions(controller: SessionController<TestContext>): () => number {
  let calls = 0;
  const original = internalsOf(controller).store.leases.acquire.bind(internalsOf(controller).store.leases);
  internalsOf(controller).store.leases.acquire = (request) => {
    calls++;
    return original(request);
  };
  return () => calls;
}

async function serve(t: import('ava').ExecutionContext, options: Record<string, unknown>): Promise<RunningServer> {
  const db = await createTestDatabase();
  t.teardown(() => db.drop());
  const server = await startTestServer({ database: db.option(), ...options }, schema);
  t.teardown(() => server.stop());
  return server;
}

test('a holder using a governed field again within leaseRecheckInterval costs no store round trip; a strict field always reads through', async (t) => {
  const s = await serve(t, { leaseRecheckInterval: '1m' });
  const acquisitions = countAcquisitions(s.controller);
  for (let i = 0; i < 10; i++) t.deepEqual((await ask(s, 'ann', 'a1', '{ exam }')).data, { exam: 'exam' });
  t.is(acquisitions(), 1);
  for (let i = 0; i < 10; i++) t.deepEqual((await ask(s, 'ann', 'a1', '{ vault }')).data, { vault: 'vault' });
  t.is(acquisitions(), 11);
  // The fast path never admits anyone: another session of ann still asks the store and is refused.
  t.is(errorAt(await ask(s, 'ann', 'a2', '{ exam }'), 'exam')?.extensions?.code, 'SESSION_LIMIT_EXCEEDED');
  t.is(acquisitions(), 12);
});

test('a lease in steady use is refreshed in the store every leaseRecheckInterval, so it outlives leaseTtl under its holder', async (t) => {
  const s = await serve(t, { leaseTtl: 800, leaseRecheckInterval: 200 });
  const acquisitions = countAcquisitions(s.controller);
  const started = Date.now();
  let requests = 0;
  // Past leaseTtl of steady use, and enough requests to tell memory from the store.
  while (Date.now() - started < 2_000 || requests < 15) {
    t.deepEqual((await ask(s, 'ben', 'b1', '{ exam }')).data, { exam: 'exam' });
    requests++;
    await sleep(50); // steady use at a human pace: the duration is the behaviour
  }
  const elapsed = Date.now() - started;
  // At most one store call per recheck interval (plus the first), and fewer than the requests.
  t.true(acquisitions() >= 2, `acquisitions: ${acquisitions()}`);
  t.true(acquisitions() <= Math.ceil(elapsed / 200) + 1, `acquisitions: ${acquisitions()} in ${elapsed} ms`);
  t.true(acquisitions() < requests, `acquisitions: ${acquisitions()} for ${requests} requests`);
  t.is(errorAt(await ask(s, 'ben', 'b2', '{ exam }'), 'exam')?.extensions?.code, 'SESSION_LIMIT_EXCEEDED');
  // Once the holder stops, the lease lapses after leaseTtl and the other session gets it.
  const taken = await eventually(
    async () => {
      const { data } = await ask<{ exam: string | null }>(s, 'ben', 'b2', '{ exam }');
      return data?.exam ? data : undefined;
    },
    4_000,
    100,
  );
  t.deepEqual(taken, { exam: 'exam' });
});
