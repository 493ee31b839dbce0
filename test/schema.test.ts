/**
 * `schema.graphql` is what the code prints, and what the code prints is the surface of docs/contract.md §5.
 */

import { readFile } from 'node:fs/promises';
import { makeExecutableSchema } from '@graphql-tools/schema';
import test from 'ava';
import {
  type ASTNode,
  buildASTSchema,
  type DocumentNode,
  type GraphQLObjectType,
  type GraphQLSchema,
  Kind,
  lexicographicSortSchema,
  parse,
  printSchema,
  visit,
} from 'graphql';
import { buildSchema, Field, ObjectType, Query, Resolver } from 'type-graphql';
import { printedSchemaFile, sdlModuleText } from '../scripts/print-schema.js';
import { sessionResolvers } from '../src/api/resolvers.js';
import { sessionApiSdl } from '../src/api/sdl.js';
import type { SessionApi } from '../src/api/session-api.js';
import { sessionTypeDefs } from '../src/api/type-defs.js';

/** A controller whose API no test here reaches: building a schema reads none. */
const noApi = {
  get api(): SessionApi {
    throw new Error('not called');
  },
};
/**
 * docs/contract.md §5, but for comments: the directive's `strict` argument (issue 5: strict
 * read-through), and `SessionPageInfo` for `PageInfo` (issue 10: no clash with a host's own type);
 * with the operators' additions of §9 (issue 12): `sessions`, `revokedBy`, `device`, the seats.
 */
const CONTRACT_SURFACE = /* GraphQL */ `
  directive @uniqueSession(max: Int! = 1, scope: SessionScope! = USER, onLimit: LimitPolicy! = REJECT_NEW, strict: Boolean! = false) on FIELD_DEFINITION

  enum SessionScope { USER APP }
  enum LimitPolicy { REJECT_NEW EVICT_OLDEST LOG_ONLY }
  enum SessionStatus { ACTIVE REVOKED EXPIRED }

  scalar DateTimeISO

  type UserSession {
    id: ID!
    userId: ID!
    status: SessionStatus!
    current: Boolean!
    createdAt: DateTimeISO!
    lastSeenAt: DateTimeISO!
    expiresAt: DateTimeISO
    ipAddress: String
    userAgent: String
    revokedAt: DateTimeISO
    revokedReason: String
    revokedNote: String
    revokedBy: ID
    device: SessionDevice
  }

  enum SessionDeviceType { desktop mobile tablet bot unknown }
  type SessionDevice { browser: String  os: String  type: SessionDeviceType! }

  input SessionFilter { userId: ID, status: [SessionStatus!], ipAddress: String }

  type SessionLease { field: String!  scope: String!  session: UserSession!  acquiredAt: DateTimeISO!  lastUsedAt: DateTimeISO! }

  type UserSessionEdge { cursor: String!  node: UserSession! }
  type SessionPageInfo { hasNextPage: Boolean!  endCursor: String }
  type UserSessionConnection { edges: [UserSessionEdge!]!  pageInfo: SessionPageInfo!  totalCount: Int! }

  type SessionStats { activeSessions: Int!  activeUsers: Int!  appLimit: Int  defaultUserLimit: Int }

  enum LimitSubject { USER GROUP }
  type SessionLimitRule { subjectType: LimitSubject!  subject: String!  maxSessions: Int }

  type Query {
    activeSessions(userId: ID, first: Int = 20, after: String): UserSessionConnection!
    sessions(filter: SessionFilter, first: Int = 20, after: String): UserSessionConnection!
    sessionStats: SessionStats!
    sessionLimitRules: [SessionLimitRule!]!
    sessionLeases(field: String!): [SessionLease!]!
  }

  type Mutation {
    revokeSession(id: ID!, reason: String): UserSession!
    revokeOtherSessions: Int!
    revokeUserSessions(userId: ID!, reason: String): Int!
    setSessionLimit(subjectType: LimitSubject!, subject: String!, maxSessions: Int): SessionLimitRule!
    removeSessionLimit(subjectType: LimitSubject!, subject: String!): Boolean!
    releaseLease(field: String!): Boolean!
    revokeLease(field: String!, sessionId: ID!): Boolean!
  }

  enum SessionEventType { ADMITTED REVOKED EXPIRED }
  type SessionEvent { type: SessionEventType!  session: UserSession!  reason: String }

  type Subscription {
    sessionEvents(userId: ID): SessionEvent!
  }
`;

/** The surface alone: no descriptions, no @specifiedBy, types and fields in alphabetical order. */
function surface(sdl: string | DocumentNode): string {
  const document = typeof sdl === 'string' ? parse(sdl) : sdl;
  const bare = visit(document, {
    enter(node: ASTNode) {
      if ('description' in node && node.description) return { ...node, description: undefined };
      if (node.kind === Kind.DIRECTIVE && node.name.value === 'specifiedBy') return null;
      return undefined;
    },
  });
  return printSchema(lexicographicSortSchema(buildASTSchema(bare)));
}

/** Argument order is part of how a surface reads: keep it out of the alphabetical sort. */
function argumentOrder(schema: GraphQLSchema): Record<string, string[]> {
  const order: Record<string, string[]> = {};
  for (const type of [schema.getQueryType(), schema.getMutationType()]) {
    for (const field of Object.values(type?.getFields() ?? {}))
      order[`${type!.name}.${field.name}`] = field.args.map((a) => a.name);
  }
  return order;
}

test('the checked-in schema.graphql is what the code prints (run `npm run schema:print` if not)', async (t) => {
  const checkedIn = await readFile(new URL('../schema.graphql', import.meta.url), 'utf8');
  t.is(checkedIn, printedSchemaFile(sessionTypeDefs()));
});

test('the SDL schema-first servers get is what the type-graphql classes print (run `npm run schema:print` if not)', async (t) => {
  const checkedIn = await readFile(new URL('../src/api/sdl.ts', import.meta.url), 'utf8');
  t.is(checkedIn, sdlModuleText());
});

test('the printed schema is exactly the surface of docs/contract.md §5', (t) => {
  t.is(surface(sessionTypeDefs()), surface(CONTRACT_SURFACE));
  t.deepEqual(
    argumentOrder(buildASTSchema(parse(sessionTypeDefs()))),
    argumentOrder(buildASTSchema(parse(CONTRACT_SURFACE))),
  );
});

test('a type-graphql host gets the same surface, whatever its nullableByDefault, beside its own fields', async (t) => {
  @ObjectType()
  class HostThing {
    @Field(() => String)
    name!: string;
  }
  @Resolver()
  class HostResolver {
    @Query(() => HostThing)
    hostThing(): HostThing {
      return { name: 'x' };
    }
  }
  const resolvers = sessionResolvers(noApi, { subscriptions: true });
  const pubSub = { publish: () => {}, subscribe: () => (async function* () {})() };
  for (const nullableByDefault of [false, true]) {
    const schema = await buildSchema({
      resolvers: [HostResolver, ...resolvers],
      nullableByDefault,
      validate: false,
      pubSub,
    });
    const printed = parse(printSchema(schema));
    // Drop the host's own field and type; what remains is the session API.
    const apiOnly = visit(printed, {
      FieldDefinition: (node) => (node.name.value === 'hostThing' ? null : undefined),
      ObjectTypeDefinition: (node) => (node.name.value === 'HostThing' ? null : undefined),
    });
    t.is(surface(apiOnly), surface(sessionApiSdl), `nullableByDefault: ${nullableByDefault}`);
  }
});

test("a schema-first host merges the library's type definitions with its own Query", (t) => {
  const schema = makeExecutableSchema({
    typeDefs: [sessionTypeDefs(), 'type Query { hello: String! }', 'type Mutation { login: Boolean! }'],
    resolvers: {},
  });
  const fields = Object.keys(schema.getQueryType()!.getFields()).sort();
  t.deepEqual(fields, ['activeSessions', 'hello', 'sessionLeases', 'sessionLimitRules', 'sessionStats', 'sessions']);
  t.true('login' in schema.getMutationType()!.getFields());
  t.truthy(schema.getDirective('uniqueSession'));
});

test("a host schema with its own PageInfo builds in both styles: the library's page type is SessionPageInfo", async (t) => {
  // Issue 10 item 5: type-graphql refused "multiple types named PageInfo"; schema-first merged them silently.
  @ObjectType('PageInfo')
  class HostPageInfo {
    @Field(() => Boolean)
    hasPreviousPage!: boolean;
  }
  @Resolver()
  class HostPagedResolver {
    @Query(() => HostPageInfo)
    hostPage(): HostPageInfo {
      return { hasPreviousPage: false };
    }
  }
  const resolvers = sessionResolvers(noApi);
  const codeFirst = await buildSchema({ resolvers: [HostPagedResolver, ...resolvers], validate: false });
  const sdlFirst = makeExecutableSchema({
    typeDefs: [sessionTypeDefs(), 'type PageInfo { hasPreviousPage: Boolean! }  type Query { hostPage: PageInfo! }'],
    resolvers: {},
  });
  for (const [style, schema] of [
    ['type-graphql', codeFirst],
    ['schema-first', sdlFirst],
  ] as const) {
    const hostPage = schema.getType('PageInfo') as GraphQLObjectType;
    t.deepEqual(Object.keys(hostPage.getFields()), ['hasPreviousPage'], `${style}: the host's PageInfo is untouched`);
    const connection = schema.getType('UserSessionConnection') as GraphQLObjectType;
    t.is(String(connection.getFields().pageInfo.type), 'SessionPageInfo!', `${style}: the API pages with its own type`);
  }
});
