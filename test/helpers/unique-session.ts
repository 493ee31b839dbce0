import { PGlite } from '@electric-sql/pglite';
import { makeExecutableSchema } from '@graphql-tools/schema';
import type { MikroORM } from '@mikro-orm/core';
import type { TestFn } from 'ava';
import type { GraphQLError, GraphQLSchema } from 'graphql';
import { GraphQLClient } from 'graphql-request';
import { uniqueSessionTransformer } from '../../src/directive/transformer.js';
import { uniqueSessionTypeDefs } from '../../src/directive/type-defs.js';
import type { DatabaseOption } from '../../src/options.js';
import { currentSession } from '../../src/request-session.js';
import { migrateDatabase } from '../../src/store/database.js';
import { embeddedOrm } from '../../src/store/embedded.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import type { RunningServer, TestContext } from './server.js';

/** A schema-first schema with governed fields of every kind, beside ungoverned ones. */
const governedTypeDefs = /* GraphQL */ `
  type Query {
    hello: String!
    me: String
    exam: String @uniqueSession
    seat: String @uniqueSession(max: 2, scope: APP)
    board: String @uniqueSession(max: 2, onLimit: EVICT_OLDEST)
    preview: String @uniqueSession(onLimit: LOG_ONLY)
    solo: String @uniqueSession(max: 1, scope: APP)
    papers: [Paper!]!
  }
  type Paper {
    n: Int!
    answer: String @uniqueSession(scope: APP)
  }
`;

const who = (ctx: TestContext) => currentSession(ctx)?.userId ?? 'nobody';

/** Without the transformer: what a host gets if it forgets it. */
export function untransformedSchema(typeDefs = governedTypeDefs): GraphQLSchema {
  return makeExecutableSchema({
    typeDefs: [uniqueSessionTypeDefs, typeDefs],
    resolvers: {
      Query: {
        hello: () => 'world',
        me: (_: unknown, __: unknown, ctx: TestContext) => currentSession(ctx)?.id ?? null,
        exam: (_: unknown, __: unknown, ctx: TestContext) => `exam for ${who(ctx)}`,
        seat: (_: unknown, __: unknown, ctx: TestContext) => `seat for ${who(ctx)}`,
        board: (_: unknown, __: unknown, ctx: TestContext) => `board for ${who(ctx)}`,
        preview: (_: unknown, __: unknown, ctx: TestContext) => `preview for ${who(ctx)}`,
        solo: (_: unknown, __: unknown, ctx: TestContext) => `solo for ${who(ctx)}`,
        papers: () => [{ n: 1 }, { n: 2 }, { n: 3 }],
      },
      // Paper.answer keeps the default resolver: the transformer must wrap that too.
      Paper: {},
    },
  });
}

/** The SDL-first path: type definitions + resolvers + `uniqueSessionTransformer`. */
export function governedSchema(): GraphQLSchema {
  return uniqueSessionTransformer(untransformedSchema());
}

export interface Answer<T = Record<string, unknown>> {
  data: T | null | undefined;
  errors: GraphQLError[] | undefined;
  status: number;
}

/** Asks as one session and returns data and errors together (partial results are the point). */
export async function ask<T = Record<string, unknown>>(
  server: Pick<RunningServer, 'url'>,
  userId: string | undefined,
  sessionKey: string | undefined,
  query: string,
  groups?: string[],
): Promise<Answer<T>> {
  const client = new GraphQLClient(server.url, {
    errorPolicy: 'all',
    headers: {
      ...(userId ? { 'x-user': userId } : {}),
      ...(sessionKey ? { 'x-session': sessionKey } : {}),
      ...(groups ? { 'x-groups': groups.join(',') } : {}),
    },
  });
  const result = await client.rawRequest<T>(query);
  return { data: result.data, errors: result.errors as GraphQLError[] | undefined, status: result.status };
}

/** The error on one field (by its response path), if any. */
export function errorAt(answer: Answer<unknown>, ...path: Array<string | number>): GraphQLError | undefined {
  return answer.errors?.find((e) => JSON.stringify(e.path) === JSON.stringify(path));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * One database for several controllers (instances, or the tests of one file). On PostgreSQL each
 * controller opens its own pool on the same database (real concurrency across instances); the
 * embedded database has a single connection that only one process can open, so there the
 * controllers share one ORM the caller owns (and one PGlite start instead of one per test).
 */
export async function sharedDatabase(
  db: TestDatabase,
): Promise<{ option: () => DatabaseOption; close: () => Promise<void> }> {
  if (db.url) return { option: () => db.url!, close: async () => {} };
  const pglite = new PGlite();
  await pglite.waitReady;
  let orm: MikroORM | undefined;
  try {
    orm = await embeddedOrm(pglite);
    // Once, up front: controllers created concurrently would otherwise race to create the
    // migrations table (the embedded path takes no lock: one process owns the database).
    await migrateDatabase({ orm, kind: 'embedded' });
  } catch (error) {
    await orm?.close(true);
    await pglite.close();
    throw error;
  }
  const owned = orm;
  return {
    option: () => owned,
    close: async () => {
      await owned.close(true);
      await pglite.close();
    },
  };
}

export type SharedDatabase = Awaited<ReturnType<typeof sharedDatabase>>;

/**
 * One database for a whole test file (one PGlite start instead of one per test): opened before
 * the first test, closed and dropped after the last, whatever happened.
 */
export function useSharedDatabase(test: TestFn<{ database: SharedDatabase }>): void {
  test.before(async (t) => {
    const db = await createTestDatabase();
    try {
      const shared = await sharedDatabase(db);
      t.context.database = {
        option: shared.option,
        close: async () => {
          await shared.close();
          await db.drop();
        },
      };
    } catch (error) {
      await db.drop();
      throw error;
    }
  });
  test.after.always(async (t) => {
    await t.context.database?.close();
  });
}
