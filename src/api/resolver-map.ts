import { DateTimeISO } from './date-time-scalar.js';
import type { SessionApi } from './session-api.js';

type Args = Record<string, any>;

/**
 * The session API as a resolver map for schema-first servers, to pair with `sessionTypeDefs`
 * (e.g. `makeExecutableSchema({ typeDefs: [controller.typeDefs, yours], resolvers: [controller.resolverMap, yours] })`).
 */
export function createSessionResolverMap(api: SessionApi) {
  return {
    DateTimeISO,
    Query: {
      activeSessions: (_: unknown, a: Args, ctx: unknown) =>
        api.activeSessions(ctx, { userId: a.userId, first: a.first, after: a.after }),
      sessionStats: (_: unknown, __: Args, ctx: unknown) => api.sessionStats(ctx),
      sessionLimitRules: (_: unknown, __: Args, ctx: unknown) => api.sessionLimitRules(ctx),
      sessions: (_: unknown, a: Args, ctx: unknown) =>
        api.sessions(ctx, { filter: a.filter, first: a.first, after: a.after }),
      sessionLeases: (_: unknown, a: Args, ctx: unknown) => api.sessionLeases(ctx, { field: a.field }),
    },
    Subscription: {
      sessionEvents: {
        subscribe: (_: unknown, a: Args, ctx: unknown) => api.sessionEvents(ctx, { userId: a.userId }),
        resolve: (event: unknown) => event,
      },
    },
    Mutation: {
      revokeSession: (_: unknown, a: Args, ctx: unknown) => api.revokeSession(ctx, { id: a.id, reason: a.reason }),
      revokeOtherSessions: (_: unknown, __: Args, ctx: unknown) => api.revokeOtherSessions(ctx),
      revokeUserSessions: (_: unknown, a: Args, ctx: unknown) =>
        api.revokeUserSessions(ctx, { userId: a.userId, reason: a.reason }),
      setSessionLimit: (_: unknown, a: Args, ctx: unknown) =>
        api.setSessionLimit(ctx, { subjectType: a.subjectType, subject: a.subject, maxSessions: a.maxSessions }),
      removeSessionLimit: (_: unknown, a: Args, ctx: unknown) =>
        api.removeSessionLimit(ctx, { subjectType: a.subjectType, subject: a.subject }),
      releaseLease: (_: unknown, a: Args, ctx: unknown) => api.releaseLease(ctx, { field: a.field }),
      revokeLease: (_: unknown, a: Args, ctx: unknown) =>
        api.revokeLease(ctx, { field: a.field, sessionId: a.sessionId }),
    },
  };
}

export type SessionResolverMap = ReturnType<typeof createSessionResolverMap>;
