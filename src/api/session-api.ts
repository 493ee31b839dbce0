/**
 * The session API's operations, independent of how the schema was built: the type-graphql
 * resolvers and the schema-first resolver map both call these. Order of checks in each
 * operation: who is calling (UNAUTHENTICATED), admin-only operations (FORBIDDEN), arguments
 * (BAD_USER_INPUT), then the store — so nothing malformed ever reaches SQL.
 */
import { forbidden, notFound, unauthenticated, type RevokeReason } from '../errors.js';
import type { SessionInfo } from '../events.js';
import { checkIdentity, hashSessionKey, type Identity } from '../identity.js';
import type { ResolvedOptions } from '../options.js';
import type { Timeouts } from '../policy.js';
import { getRequestSession } from '../request-session.js';
import { listLimitRules, removeLimitRule, setLimitRule, type LimitRule } from '../store/limit-rules.js';
import { countActive, findSession, findSessionByKeyHash, listActiveSessions } from '../store/session-queries.js';
import type { SessionStore, Sql } from '../store/session-store.js';
import * as args from './arguments.js';
import { accessTo, revokeReasonFor } from './authorization.js';
import { encodeCursor } from './cursor.js';
import type { UserSessionConnection } from './types/connection.js';
import { LimitSubject, SessionStatus } from './types/enums.js';
import type { SessionLimitRule } from './types/session-limit-rule.js';
import type { SessionStats } from './types/session-stats.js';
import { UserSession } from './types/user-session.js';

/** What the API needs from the controller; `SessionController` provides it. */
export interface SessionApiHost {
  readonly options: Pick<ResolvedOptions, 'identify' | 'isAdmin' | 'appMaxSessions' | 'userMaxSessions'>;
  readonly store: SessionStore;
  readonly timeouts: Timeouts;
  guard<T>(operation: string, run: () => Promise<T>): Promise<T>;
  revoke(sessionId: string, reason: RevokeReason, note: string | null): Promise<SessionInfo | null>;
  revokeUser(userId: string, reason: RevokeReason, note: string | null, exceptSessionId?: string): Promise<SessionInfo[]>;
  dbNow(): number;
}

/** The caller of an API operation. */
interface Caller {
  identity: Identity;
  userId: string;
  /** The caller's own session, if the store knows it. */
  sessionId: string | null;
}

export interface ActiveSessionsArgs {
  userId?: string | null;
  first?: number | null;
  after?: string | null;
}

export class SessionApi {
  /** One admin check per request, however many fields ask. */
  private readonly adminChecks = new WeakMap<object, Promise<boolean>>();

  constructor(private readonly host: SessionApiHost) {}

  async activeSessions(contextValue: unknown, input: ActiveSessionsArgs): Promise<UserSessionConnection> {
    const caller = await this.caller(contextValue);
    const userId = input.userId === undefined || input.userId === null ? caller.userId : args.userId('userId', input.userId);
    const first = args.pageSize('first', input.first);
    const after = args.cursor('after', input.after);
    const access = accessTo(caller.userId, userId, userId !== caller.userId && (await this.isAdmin(contextValue, caller)));
    if (access === 'NONE') throw forbidden("Only an administrator may list another user's sessions.");
    const page = await this.host.guard('api.activeSessions', () =>
      listActiveSessions(this.sql(), this.host.timeouts, { userId, first, after }),
    );
    const edges = page.sessions.map(({ session, position }) => ({
      cursor: encodeCursor(position),
      // Listed because the database found it active; its clock decided, not this instance's.
      node: this.view(session, caller, SessionStatus.ACTIVE),
    }));
    return {
      edges,
      pageInfo: { hasNextPage: page.hasNextPage, endCursor: edges.length ? edges[edges.length - 1].cursor : null },
      totalCount: page.totalCount,
    };
  }

  async sessionStats(contextValue: unknown): Promise<SessionStats> {
    await this.requireAdmin(contextValue);
    const counts = await this.host.guard('api.sessionStats', () => countActive(this.sql(), this.host.timeouts));
    return {
      ...counts,
      appLimit: this.host.options.appMaxSessions,
      defaultUserLimit: this.host.options.userMaxSessions,
    };
  }

  async sessionLimitRules(contextValue: unknown): Promise<SessionLimitRule[]> {
    await this.requireAdmin(contextValue);
    const rules = await this.host.guard('api.sessionLimitRules', () => listLimitRules(this.sql()));
    return rules.map(toRuleView);
  }

  async revokeSession(contextValue: unknown, input: { id: string; reason?: string | null }): Promise<UserSession> {
    const caller = await this.caller(contextValue);
    const id = args.sessionId('id', input.id);
    const note = args.reason('reason', input.reason);
    const found = await this.host.guard('api.revokeSession', () => findSession(this.sql(), id));
    // Unknown and foreign look the same to a non-admin: no existence leak.
    if (!found) throw notFound();
    const access = accessTo(caller.userId, found.userId, found.userId !== caller.userId && (await this.isAdmin(contextValue, caller)));
    if (access === 'NONE') throw notFound();
    const revoked = await this.host.guard('api.revokeSession', () => this.host.revoke(id, revokeReasonFor(access), note));
    if (!revoked) throw notFound(); // pruned in between
    return this.view(revoked, caller);
  }

  async revokeOtherSessions(contextValue: unknown): Promise<number> {
    const caller = await this.caller(contextValue);
    const revoked = await this.host.guard('api.revokeOtherSessions', () =>
      this.host.revokeUser(caller.userId, 'REVOKED', null, caller.sessionId ?? undefined),
    );
    return revoked.length;
  }

  async revokeUserSessions(contextValue: unknown, input: { userId: string; reason?: string | null }): Promise<number> {
    const caller = await this.requireAdmin(contextValue);
    const userId = args.userId('userId', input.userId);
    const note = args.reason('reason', input.reason);
    const reason = revokeReasonFor(accessTo(caller.userId, userId, true) as 'OWN' | 'ADMIN');
    const revoked = await this.host.guard('api.revokeUserSessions', () => this.host.revokeUser(userId, reason, note));
    return revoked.length;
  }

  async setSessionLimit(
    contextValue: unknown,
    input: { subjectType: string; subject: string; maxSessions?: number | null },
  ): Promise<SessionLimitRule> {
    await this.requireAdmin(contextValue);
    const rule: LimitRule = {
      subjectType: args.subjectType('subjectType', input.subjectType),
      subject: args.subject('subject', input.subject),
      maxSessions: args.maxSessions('maxSessions', input.maxSessions),
    };
    return toRuleView(await this.host.guard('api.setSessionLimit', () => setLimitRule(this.sql(), rule)));
  }

  async removeSessionLimit(contextValue: unknown, input: { subjectType: string; subject: string }): Promise<boolean> {
    await this.requireAdmin(contextValue);
    const subjectType = args.subjectType('subjectType', input.subjectType);
    const subject = args.subject('subject', input.subject);
    return this.host.guard('api.removeSessionLimit', () => removeLimitRule(this.sql(), subjectType, subject));
  }

  /**
   * The caller as the plugin recorded it. Without the plugin (not installed, or `enabled: false`)
   * the host's `identify` still decides who is calling, and the store which session is theirs.
   */
  private async caller(contextValue: unknown): Promise<Caller> {
    const recorded = getRequestSession(contextValue);
    const identity = recorded ? recorded.identity : checkIdentity(await this.host.options.identify(contextValue as never));
    if (!identity) throw unauthenticated();
    let sessionId = recorded?.session?.id ?? null;
    if (!sessionId) {
      const own = await this.host.guard('api.caller', () => findSessionByKeyHash(this.sql(), hashSessionKey(identity.sessionKey)));
      sessionId = own && own.userId === identity.userId ? own.id : null;
    }
    return { identity, userId: identity.userId, sessionId };
  }

  private async requireAdmin(contextValue: unknown): Promise<Caller> {
    const caller = await this.caller(contextValue);
    if (!(await this.isAdmin(contextValue, caller))) throw forbidden();
    return caller;
  }

  private isAdmin(contextValue: unknown, caller: Caller): Promise<boolean> {
    const key = typeof contextValue === 'object' && contextValue !== null ? contextValue : null;
    const cached = key && this.adminChecks.get(key);
    if (cached) return cached;
    const check = Promise.resolve(this.host.options.isAdmin(caller.identity)).then((admin) => admin === true);
    if (key) this.adminChecks.set(key, check);
    return check;
  }

  private sql(): Sql {
    return this.host.store.sql();
  }

  private view(session: SessionInfo, caller: Caller, status?: SessionStatus): UserSession {
    return UserSession.from(session, session.id === caller.sessionId, this.host.timeouts, this.host.dbNow(), status);
  }
}

function toRuleView(rule: LimitRule): SessionLimitRule {
  return { subjectType: LimitSubject[rule.subjectType], subject: rule.subject, maxSessions: rule.maxSessions };
}
