/**
 * The session API as a plain resolver map for schema-first servers: the same operations as the
 * type-graphql resolvers, without loading type-graphql.
 */
import type { GraphQLResolveInfo } from 'graphql';
import { keepOutOfCaches } from './cache-hints.js';
import { DateTimeISO } from './date-time-scalar.js';
import type { SessionApi } from './session-api.js';

type Args = Record<string, any>;

/** Every field of the session API is hinted not cacheable (docs/contract.md §15): a cache hit skips authorization. */
function notCacheable<T>(
  resolve: (source: unknown, args: Args, ctx: unknown) => T,
): (source: unknown, args: Args, ctx: unknown, info: GraphQLResolveInfo) => T {
  return (source, args, ctx, info) => {
    keepOutOfCaches(info);
    return resolve(source, args, ctx);
  };
}

/**
 * The session API as a resolver map for schema-first servers, to pair with `sessionTypeDefs`
 * (e.g. `makeExecutableSchema({ typeDefs: [controller.typeDefs, yours], resolvers: [controller.resolverMap, yours] })`).
 */
export function createSessionResolverMap(api: SessionApi) {
  return {
    DateTimeISO,
    Query: {
      activeSessions: notCacheable((_: unknown, a: Args, ctx: unknown) =>
        api.activeSessions(ctx, { userId: a.userId, first: a.first, after: a.after }),
      ),
      sessionStats: notCacheable((_: unknown, __: Args, ctx: unknown) => api.sessionStats(ctx)),
      sessionLimitRules: notCacheable((_: unknown, __: Args, ctx: unknown) => api.sessionLimitRules(ctx)),
      sessions: notCacheable((_: unknown, a: Args, ctx: unknown) =>
        api.sessions(ctx, { filter: a.filter, first: a.first, after: a.after }),
      ),
      sessionLeases: notCacheable((_: unknown, a: Args, ctx: unknown) => api.sessionLeases(ctx, { field: a.field })),
    },
    Subscription: {
      sessionEvents: {
        subscribe: (_: unknown, a: Args, ctx: unknown) => api.sessionEvents(ctx, { userId: a.userId }),
        resolve: (event: unknown) => event,
      },
    },
    Mutation: {
      revokeSession: notCacheable((_: unknown, a: Args, ctx: unknown) =>
        api.revokeSession(ctx, { id: a.id, reason: a.reason }),
      ),
      revokeOtherSessions: notCacheable((_: unknown, __: Args, ctx: unknown) => api.revokeOtherSessions(ctx)),
      revokeUserSessions: notCacheable((_: unknown, a: Args, ctx: unknown) =>
        api.revokeUserSessions(ctx, { userId: a.userId, reason: a.reason }),
      ),
      setSessionLimit: notCacheable((_: unknown, a: Args, ctx: unknown) =>
        api.setSessionLimit(ctx, { subjectType: a.subjectType, subject: a.subject, maxSessions: a.maxSessions }),
      ),
      removeSessionLimit: notCacheable((_: unknown, a: Args, ctx: unknown) =>
        api.removeSessionLimit(ctx, { subjectType: a.subjectType, subject: a.subject }),
      ),
      releaseLease: notCacheable((_: unknown, a: Args, ctx: unknown) => api.releaseLease(ctx, { field: a.field })),
      revokeLease: notCacheable((_: unknown, a: Args, ctx: unknown) =>
        api.revokeLease(ctx, { field: a.field, sessionId: a.sessionId }),
      ),
    },
  };
}

export type SessionResolverMap = ReturnType<typeof createSessionResolverMap>;
