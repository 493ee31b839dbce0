/**
 * Seats for operators (docs/contract.md §9, issue 12 item 4): `sessionLeases` lists a field's
 * holders with their sessions, `releaseLease` lets a session give its seat up, `revokeLease` lets
 * an admin end anyone's; the same on the controller; `onLeaseEvicted` hears `EVICT_OLDEST`. Through
 * a real Apollo server, for both ways a host builds its schema.
 */

import { makeExecutableSchema } from '@graphql-tools/schema';
import test from 'ava';
import { buildSchema, Ctx, Query, Resolver } from 'type-graphql';
import type { SessionController } from '../src/controller.js';
import type { LeaseEvictEvent } from '../src/hooks.js';
import { currentSession } from '../src/request-session.js';
import { sessionResolvers, UniqueSession } from '../src/type-graphql.js';
import { isAdmin, newKey, SCHEMA_STYLES, type SchemaStyle } from './helpers/api.js';
import { createTestDatabase } from './helpers/database.js';
import { failure, type RunningServer, startTestServer, type TestContext } from './helpers/server.js';
import { ask, errorAt } from './helpers/unique-session.js';

const who = (ctx: TestContext) => currentSession(ctx)?.userId ?? 'nobody';

@Resolver()
class GovernedResolver {
  @Query(() => String, { nullable: true })
  @UniqueSession({ max: 1 })
  exam(@Ctx() ctx: TestContext): string {
    return `exam for ${who(ctx)}`;
  }

  @Query(() => String, { nullable: true })
  @UniqueSession({ max: 1, scope: 'APP' })
  seat(@Ctx() ctx: TestContext): string {
    return `seat for ${who(ctx)}`;
  }

  @Query(() => String, { nullable: true })
  @UniqueSession({ max: 1, onLimit: 'EVICT_OLDEST' })
  board(@Ctx() ctx: TestContext): string {
    return `board for ${who(ctx)}`;
  }
}

const governedTypeDefs = /* GraphQL */ `
  type Query {
    exam: String @uniqueSession(max: 1)
    seat: String @uniqueSession(max: 1, scope: APP)
    board: String @uniqueSession(max: 1, onLimit: EVICT_OLDEST)
  }
`;

function schemaFor(style: SchemaStyle) {
  return async (controller: SessionController<TestContext>) => {
    if (style === 'type-graphql') {
      return buildSchema({ resolvers: [GovernedResolver, ...sessionResolvers(controller)], validate: false });
    }
    const field = (name: string) => (_: unknown, __: unknown, ctx: TestContext) => `${name} for ${who(ctx)}`;
    return controller.transformSchema(
      makeExecutableSchema({
        typeDefs: [controller.typeDefs, governedTypeDefs],
        resolvers: [
          controller.resolverMap,
          { Query: { exam: field('exam'), seat: field('seat'), board: field('board') } },
        ],
      }),
    );
  };
}

const LEASES = /* GraphQL */ `
  query Leases($field: String!) {
    sessionLeases(field: $field) { field scope acquiredAt lastUsedAt session { id userId status current } }
  }
`;
const RELEASE = /* GraphQL */ `mutation Release($field: String!) { releaseLease(field: $field) }`;
const REVOKE_LEASE = /* GraphQL */ `mutation RevokeLease($field: String!, $sessionId: ID!) { revokeLease(field: $field, sessionId: $sessionId) }`;

interface Lease {
  field: string;
  scope: string;
  acquiredAt: string;
  lastUsedAt: string;
  session: { id: string; userId: string; status: string; current: boolean };
}

let runs = 0;

for (const style of SCHEMA_STYLES) {
  const evictions: LeaseEvictEvent[] = [];
  let server: RunningServer | undefined;
  const teardowns: Array<() => unknown> = [];
  test.before(async () => {
    const db = await createTestDatabase();
    teardowns.unshift(() => db.drop());
    server = await startTestServer(
      { database: db.option(), isAdmin, onLeaseEvicted: (event) => evictions.push(event) },
      schemaFor(style),
    );
    teardowns.unshift(() => server!.stop());
  });
  test.after.always(async () => {
    for (const fn of teardowns) await fn();
  });
  const s = () => server!;

  /** A signed-in session: asks `query` as it (the first request admits it); `id` is its session id. */
  async function session(userId: string, groups?: string[]) {
    const key = newKey(userId);
    const opened = await s().controller.openSession({ userId, sessionKey: key, groups });
    return {
      id: opened.id,
      key,
      ask: (query: string) => ask(s(), userId, key, query, groups),
      client: s().client(userId, key, groups),
    };
  }

  function people() {
    runs += 1;
    const n = `${style === 'type-graphql' ? 't' : 's'}${runs}`;
    return { alice: `alice-${n}`, bob: `bob-${n}`, root: `root-${n}` };
  }

  // The app-wide seat (max 1) is shared by the whole server: the tests that take it run one at a time.
  test.serial(
    `${style}: sessionLeases lists a field's holders with their sessions, USER and APP scope; users are FORBIDDEN`,
    async (t) => {
      const p = people();
      const alice = await session(p.alice);
      const bob = await session(p.bob);
      const root = await session(p.root, ['admin']);
      t.is((await alice.ask('{ exam }')).data?.exam, `exam for ${p.alice}`);
      t.is((await bob.ask('{ exam }')).data?.exam, `exam for ${p.bob}`);

      const { sessionLeases } = await root.client.request<{ sessionLeases: Lease[] }>(LEASES, { field: 'Query.exam' });
      const mine = sessionLeases.filter((l) => [p.alice, p.bob].includes(l.session.userId));
      // Most recently used first.
      t.deepEqual(
        mine.map((l) => [l.session.id, l.scope, l.field, l.session.status, l.session.current]),
        [
          [bob.id, 'USER', 'Query.exam', 'ACTIVE', false],
          [alice.id, 'USER', 'Query.exam', 'ACTIVE', false],
        ],
      );
      t.true(Date.parse(mine[0].lastUsedAt) >= Date.parse(mine[0].acquiredAt));

      t.is((await alice.ask('{ seat }')).data?.seat, `seat for ${p.alice}`);
      const seats = (await root.client.request<{ sessionLeases: Lease[] }>(LEASES, { field: 'Query.seat' }))
        .sessionLeases;
      t.deepEqual(
        seats.map((l) => [l.session.id, l.scope]),
        [[alice.id, 'APP']],
      );
      // A field no one holds, or that does not exist: no holders.
      t.deepEqual(
        (await root.client.request<{ sessionLeases: Lease[] }>(LEASES, { field: 'Query.nothing' })).sessionLeases,
        [],
      );

      t.is((await failure(alice.client.request(LEASES, { field: 'Query.exam' }))).code, 'FORBIDDEN');
      const bad = await failure(root.client.request(LEASES, { field: 'exam' }));
      t.is(`${bad.code} ${bad.extensions.argument}`, 'BAD_USER_INPUT field');
      // Free the app-wide seat for the other tests.
      await s().controller.revokeLease('Query.seat', alice.id);
    },
  );

  test(`${style}: releaseLease gives the caller's seat up (an exam handed in): the user's next session takes it at once`, async (t) => {
    const p = people();
    const first = await session(p.alice);
    const second = await session(p.alice);
    t.is((await first.ask('{ exam }')).data?.exam, `exam for ${p.alice}`);
    t.is(errorAt(await second.ask('{ exam }'), 'exam')?.extensions.code, 'SESSION_LIMIT_EXCEEDED');
    t.true((await first.client.request<{ releaseLease: boolean }>(RELEASE, { field: 'Query.exam' })).releaseLease);
    t.false((await first.client.request<{ releaseLease: boolean }>(RELEASE, { field: 'Query.exam' })).releaseLease);
    t.is((await second.ask('{ exam }')).data?.exam, `exam for ${p.alice}`);
    // And now the first is the newcomer.
    t.is(errorAt(await first.ask('{ exam }'), 'exam')?.extensions.code, 'SESSION_LIMIT_EXCEEDED');
    const bad = await failure(first.client.request(RELEASE, { field: 'Query.' }));
    t.is(`${bad.code} ${bad.extensions.argument}`, 'BAD_USER_INPUT field');
    t.is((await failure(s().client().request(RELEASE, { field: 'Query.exam' }))).code, 'UNAUTHENTICATED');
  });

  test.serial(
    `${style}: revokeLease ends anyone's seat for an admin; a user is FORBIDDEN; the session stays signed in`,
    async (t) => {
      const p = people();
      const alice = await session(p.alice);
      const bob = await session(p.bob);
      const root = await session(p.root, ['admin']);
      t.is((await alice.ask('{ seat }')).data?.seat, `seat for ${p.alice}`);
      t.is(errorAt(await bob.ask('{ seat }'), 'seat')?.extensions.code, 'SESSION_LIMIT_EXCEEDED');
      t.is(
        (await failure(bob.client.request(REVOKE_LEASE, { field: 'Query.seat', sessionId: alice.id }))).code,
        'FORBIDDEN',
      );
      const revoke = () =>
        root.client.request<{ revokeLease: boolean }>(REVOKE_LEASE, { field: 'Query.seat', sessionId: alice.id });
      t.true((await revoke()).revokeLease);
      t.false((await revoke()).revokeLease);
      t.is((await bob.ask('{ seat }')).data?.seat, `seat for ${p.bob}`);
      // Alice is still signed in; only her seat went.
      t.is((await alice.ask('{ exam }')).data?.exam, `exam for ${p.alice}`);
      const bad = await failure(root.client.request(REVOKE_LEASE, { field: 'Query.seat', sessionId: 'nope' }));
      t.is(`${bad.code} ${bad.extensions.argument}`, 'BAD_USER_INPUT sessionId');
      await s().controller.revokeLease('Query.seat', bob.id);
    },
  );

  test(`${style}: onLeaseEvicted hears EVICT_OLDEST take a seat: the field, who lost it, who took it`, async (t) => {
    const p = people();
    const first = await session(p.alice);
    const second = await session(p.alice);
    t.is((await first.ask('{ board }')).data?.board, `board for ${p.alice}`);
    t.is((await second.ask('{ board }')).data?.board, `board for ${p.alice}`);
    const event = evictions.find((e) => e.sessionId === second.id);
    t.like(event, { field: 'Query.board', scope: 'USER', evicted: [first.id], sessionId: second.id });
    t.is(event?.identity.userId, p.alice);
    t.false(JSON.stringify(event).includes(second.key));
  });

  test(`${style}: the controller lists, releases and revokes seats from TypeScript`, async (t) => {
    const p = people();
    const alice = await session(p.alice);
    await alice.ask('{ exam }');
    const held = (await s().controller.sessionLeases('Query.exam')).filter((h) => h.session.userId === p.alice);
    t.deepEqual(
      held.map((h) => [h.field, h.scopeKey, h.session.id]),
      [['Query.exam', p.alice, alice.id]],
    );
    t.false('keyHash' in held[0].session);
    t.true(await s().controller.revokeLease('Query.exam', alice.id));
    t.false(await s().controller.revokeLease('Query.exam', alice.id));
    t.deepEqual(
      (await s().controller.sessionLeases('Query.exam')).filter((h) => h.session.userId === p.alice),
      [],
    );
  });
}
