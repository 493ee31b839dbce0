/**
 * The session API as type-graphql resolver classes, for code-first servers: thin wrappers over
 * `SessionApi`, so both schema styles behave alike.
 */
import 'reflect-metadata';
import type { GraphQLResolveInfo } from 'graphql';
import { Args, Ctx, Info, Int, Mutation, Query, Resolver, Root, Subscription } from 'type-graphql';
import { keepOutOfCaches } from './cache-hints.js';
import type { SessionApi } from './session-api.js';
import {
  ActiveSessionsArgs,
  LeaseFieldArgs,
  RemoveSessionLimitArgs,
  RevokeLeaseArgs,
  RevokeSessionArgs,
  RevokeUserSessionsArgs,
  SessionsArgs,
  SetSessionLimitArgs,
} from './types/args.js';
import { UserSessionConnection } from './types/connection.js';
import { SessionEvent, SessionEventsArgs } from './types/session-event.js';
import { SessionLease } from './types/session-lease.js';
import { SessionLimitRule } from './types/session-limit-rule.js';
import { SessionStats } from './types/session-stats.js';
import { UserSession } from './types/user-session.js';
import type {
  SessionEventView,
  SessionLeaseView,
  SessionLimitRuleView,
  SessionStatsView,
  UserSessionConnectionView,
  UserSessionView,
} from './views.js';

/**
 * Resolver classes, at least one: what type-graphql's `buildSchema({ resolvers })` takes. Spelled
 * out rather than imported so that the package's declarations do not load type-graphql's, which
 * import class-validator (docs: README, "Use it in your server").
 */
type ResolverClasses = [Function, ...Function[]];

/**
 * The session API as type-graphql resolver classes bound to one controller's API. The methods
 * use no instance state, so whatever container type-graphql is given may instantiate them.
 *
 * `api` is a function: the controller's API is read when a resolver runs, never when the schema is
 * built, so the schema can be printed without a running controller.
 */
function createSessionResolvers(
  api: () => SessionApi,
  { subscriptions = false }: SessionResolverOptions = {},
): ResolverClasses {
  @Resolver()
  class SessionQueryResolver {
    @Query(() => UserSessionConnection, {
      nullable: false,
      description: "Active sessions, newest first: the caller's own, or (admins only) another user's.",
    })
    activeSessions(
      @Args(() => ActiveSessionsArgs) args: ActiveSessionsArgs,
      @Ctx() contextValue: unknown,
      @Info() info: GraphQLResolveInfo,
    ): Promise<UserSessionConnectionView> {
      keepOutOfCaches(info);
      return api().activeSessions(contextValue, args);
    }

    @Query(() => UserSessionConnection, {
      nullable: false,
      description:
        "Sessions in every status within retention, newest first: the caller's own; admins: every user's, or the filter's.",
    })
    sessions(
      @Args(() => SessionsArgs) args: SessionsArgs,
      @Ctx() contextValue: unknown,
      @Info() info: GraphQLResolveInfo,
    ): Promise<UserSessionConnectionView> {
      keepOutOfCaches(info);
      return api().sessions(contextValue, args);
    }

    @Query(() => SessionStats, {
      nullable: false,
      description: 'Counts of active sessions and the configured caps. Admins only.',
    })
    sessionStats(@Ctx() contextValue: unknown, @Info() info: GraphQLResolveInfo): Promise<SessionStatsView> {
      keepOutOfCaches(info);
      return api().sessionStats(contextValue);
    }

    @Query(() => [SessionLimitRule], {
      nullable: false,
      description: 'The stored per-user and per-group limits. Admins only.',
    })
    sessionLimitRules(@Ctx() contextValue: unknown, @Info() info: GraphQLResolveInfo): Promise<SessionLimitRuleView[]> {
      keepOutOfCaches(info);
      return api().sessionLimitRules(contextValue);
    }

    @Query(() => [SessionLease], {
      nullable: false,
      description: 'The live seats on a @uniqueSession field, most recently used first (at most 1,000). Admins only.',
    })
    sessionLeases(
      @Args(() => LeaseFieldArgs) args: LeaseFieldArgs,
      @Ctx() contextValue: unknown,
      @Info() info: GraphQLResolveInfo,
    ): Promise<SessionLeaseView[]> {
      keepOutOfCaches(info);
      return api().sessionLeases(contextValue, args);
    }
  }

  @Resolver()
  class SessionMutationResolver {
    @Mutation(() => UserSession, {
      nullable: false,
      description:
        "Ends one session: the caller's own (recorded as REVOKED), or anyone's for admins (ADMIN_REVOKED). An already revoked session is returned unchanged.",
    })
    revokeSession(
      @Args(() => RevokeSessionArgs) args: RevokeSessionArgs,
      @Ctx() contextValue: unknown,
      @Info() info: GraphQLResolveInfo,
    ): Promise<UserSessionView> {
      keepOutOfCaches(info);
      return api().revokeSession(contextValue, args);
    }

    @Mutation(() => Int, {
      nullable: false,
      description: "Ends all of the caller's sessions but the current one; returns how many.",
    })
    revokeOtherSessions(@Ctx() contextValue: unknown, @Info() info: GraphQLResolveInfo): Promise<number> {
      keepOutOfCaches(info);
      return api().revokeOtherSessions(contextValue);
    }

    @Mutation(() => Int, {
      nullable: false,
      description: "Ends all of a user's sessions; returns how many. Admins only.",
    })
    revokeUserSessions(
      @Args(() => RevokeUserSessionsArgs) args: RevokeUserSessionsArgs,
      @Ctx() contextValue: unknown,
      @Info() info: GraphQLResolveInfo,
    ): Promise<number> {
      keepOutOfCaches(info);
      return api().revokeUserSessions(contextValue, args);
    }

    @Mutation(() => SessionLimitRule, {
      nullable: false,
      description:
        'Creates or replaces a stored limit; it applies from the next admission, on every instance. Admins only.',
    })
    setSessionLimit(
      @Args(() => SetSessionLimitArgs) args: SetSessionLimitArgs,
      @Ctx() contextValue: unknown,
      @Info() info: GraphQLResolveInfo,
    ): Promise<SessionLimitRuleView> {
      keepOutOfCaches(info);
      return api().setSessionLimit(contextValue, args);
    }

    @Mutation(() => Boolean, {
      nullable: false,
      description: 'Removes a stored limit; false if there was none. Admins only.',
    })
    removeSessionLimit(
      @Args(() => RemoveSessionLimitArgs) args: RemoveSessionLimitArgs,
      @Ctx() contextValue: unknown,
      @Info() info: GraphQLResolveInfo,
    ): Promise<boolean> {
      keepOutOfCaches(info);
      return api().removeSessionLimit(contextValue, args);
    }

    @Mutation(() => Boolean, {
      nullable: false,
      description:
        "The caller's session gives up its seat on a @uniqueSession field (e.g. an exam handed in); false if it held none.",
    })
    releaseLease(
      @Args(() => LeaseFieldArgs) args: LeaseFieldArgs,
      @Ctx() contextValue: unknown,
      @Info() info: GraphQLResolveInfo,
    ): Promise<boolean> {
      keepOutOfCaches(info);
      return api().releaseLease(contextValue, args);
    }

    @Mutation(() => Boolean, {
      nullable: false,
      description: "Ends a session's seat on a @uniqueSession field; false if it held none. Admins only.",
    })
    revokeLease(
      @Args(() => RevokeLeaseArgs) args: RevokeLeaseArgs,
      @Ctx() contextValue: unknown,
      @Info() info: GraphQLResolveInfo,
    ): Promise<boolean> {
      keepOutOfCaches(info);
      return api().revokeLease(contextValue, args);
    }
  }

  @Resolver()
  class SessionSubscriptionResolver {
    @Subscription(() => SessionEvent, {
      nullable: false,
      description:
        "Sign-ins, revocations and expiry of the caller's sessions (or, for admins, userId's), from every server instance, as they happen.",
      subscribe: ({ args, context }) => api().sessionEvents(context, args as SessionEventsArgs),
    })
    sessionEvents(
      @Root() event: SessionEventView,
      @Args(() => SessionEventsArgs) _args: SessionEventsArgs,
    ): SessionEventView {
      return event;
    }
  }

  return subscriptions
    ? [SessionQueryResolver, SessionMutationResolver, SessionSubscriptionResolver]
    : [SessionQueryResolver, SessionMutationResolver];
}

interface SessionResolverOptions {
  /**
   * Include the `sessionEvents` subscription. type-graphql refuses any subscription unless
   * `buildSchema` is given a `pubSub` (ours does not use it: any PubSub will do), so it is
   * opt-in. Default: `false`.
   */
  subscriptions?: boolean;
}

/**
 * The session API's resolver classes for type-graphql:
 * `buildSchema({ resolvers: [...yours, ...sessionResolvers(sessions)] })`.
 */
export function sessionResolvers(
  controller: { readonly api: SessionApi },
  options?: SessionResolverOptions,
): ResolverClasses {
  return createSessionResolvers(() => controller.api, options);
}
