import { makeExecutableSchema } from '@graphql-tools/schema';
import test from 'ava';
import { currentSession, type SessionController } from '../src/index.js';
import { eventually, interruptibleDatabase, outcome, serve } from './helpers/core.js';
import { databaseKind } from './helpers/database.js';
import { failure, plainTypeDefs, type TestContext } from './helpers/server.js';

/*
 * Issue 9, item 6: `controller.revoke()`, the README's logout, and `revokeUser()` are store calls
 * reachable from a request; during an outage they must take the same failure path as every
 * other one: SESSION_STORE_UNAVAILABLE with HTTP 503, never INTERNAL_SERVER_ERROR with the
 * driver's message and a stack trace.
 *
 * PostgreSQL: the database is cut by the TCP proxy (closes the listener and every open socket).
 * Embedded: the host-owned MikroORM is closed (test/core-outage.test.ts does the same).
 *
 * The caller's session is admitted before the outage and served from memory while the instance
 * believes it is in sync: `syncInterval: '1h'` makes that window deterministic; with the default
 * it is the first second of an outage, which is when the operator saw it.
 */

/** The host's schema: the README's logout, and "log out everywhere" through revokeUser. */
function hostSchema(controller: SessionController<TestContext>) {
  return makeExecutableSchema({
    typeDefs: [plainTypeDefs, 'type Mutation { logout: Boolean! logoutEverywhere: Int! }'],
    resolvers: {
      Query: {
        hello: () => 'world',
        whoami: (_: unknown, __: unknown, ctx: TestContext) => currentSession(ctx)?.userId ?? null,
      },
      Mutation: {
        logout: async (_: unknown, __: unknown, ctx: TestContext) => {
          await controller.revoke(currentSession(ctx)!.id, { reason: 'LOGOUT' });
          return true;
        },
        logoutEverywhere: async (_: unknown, __: unknown, ctx: TestContext) =>
          (await controller.revokeUser(currentSession(ctx)!.userId, { reason: 'LOGOUT' })).length,
      },
    },
  });
}

const DRIVER_WORDS = /ECONNREFUSED|ECONNRESET|connect|terminat|socket|closed|knex|pool|pglite/i;

test.serial(
  `logout (revoke) and revokeUser during a store outage answer SESSION_STORE_UNAVAILABLE 503 (${databaseKind})`,
  async (t) => {
    const outage = await interruptibleDatabase(t);
    const s = await serve(
      t,
      { database: outage.database, failMode: 'closed', syncInterval: '1h', onStoreError: () => {} },
      hostSchema,
      // As on a development machine (NODE_ENV unset): a stack trace would show.
      { includeStacktraceInErrorResponses: true },
    );
    t.is(await outcome(s.client('alice', 'a1').request('{ whoami }')), 'ok');
    t.is(await outcome(s.client('bob', 'b1').request('{ whoami }')), 'ok');

    await outage.down();
    const answers = {
      logout: await failure(s.client('alice', 'a1').request('mutation { logout }')),
      logoutEverywhere: await failure(s.client('bob', 'b1').request('mutation { logoutEverywhere }')),
    };
    t.log(answers);
    for (const [mutation, refused] of Object.entries(answers)) {
      t.is(
        refused.code,
        'SESSION_STORE_UNAVAILABLE',
        `${mutation} during the outage: the store failure must be SESSION_STORE_UNAVAILABLE, got ${refused.code}: ${refused.message}`,
      );
      t.is(refused.status, 503, `${mutation}: HTTP 503`);
      t.false('stacktrace' in refused.extensions, `${mutation}: no stack trace`);
      t.notRegex(refused.message, DRIVER_WORDS, `${mutation}: not the driver's message`);
    }

    await outage.up();
    // Once the store is back, logging out works and the session is refused afterwards.
    await eventually(
      async () => ((await outcome(s.client('alice', 'a1').request('mutation { logout }'))) === 'ok' ? true : undefined),
      10_000,
      200,
    );
    t.is(await outcome(s.client('alice', 'a1').request('{ whoami }')), 'SESSION_REVOKED 401');
  },
);
