/**
 * The session API's operations, independent of how the schema was built: the type-graphql
 * resolvers and the schema-first resolver map both call these. Order of checks in each
 * operation: who is calling (UNAUTHENTICATED), admin-only operations (FORBIDDEN), arguments
 * (BAD_USER_INPUT), then the store — so nothing malformed ever reaches SQL.
 */
import { costLimitExceeded, forbidden, notFound, unauthenticated } from '../errors.js';
import { hashSessionKey, type Identity } from '../identity.js';
import { getRequestSession } from '../request-session.js';
import type { LeaseDirectory, LimitRules, SessionDirectory, SessionRuntime } from '../runtime/contracts.js';
import type { SessionEvent } from '../runtime/session-events.js';
import type { LimitRule } from '../store/limit-rule-table.js';
import type { SessionFilter } from '../store/session-reads.js';
import type { SessionInfo, SessionStatusValue } from '../vocabulary.js';
import * as args from './arguments.js';
import { accessTo, revokeReasonFor } from './authorization.js';
import { encodeCursor } from './cursor.js';
import { FairQueue } from './fair-queue.js';
import {
  type SessionEventView,
  type SessionLeaseView,
  type SessionLimitRuleView,
  type SessionStatsView,
  type UserSessionConnectionView,
  type UserSessionView,
  userSessionView,
} from './views.js';

/** What the API needs: the session runtime, and the store's reads and limit rules. */
export interface SessionApiHost {
  readonly sessions: SessionRuntime;
  readonly directory: SessionDirectory;
  readonly rules: LimitRules;
  /** `@uniqueSession` seats, for operators. */
  readonly leases: LeaseDirectory;
  /** The `api` option: calls per request, store queries at once (in all, per user), the count's cap. */
  readonly limits: {
    maxCallsPerRequest: number;
    maxConcurrentQueries: number;
    maxConcurrentQueriesPerUser: number;
    maxTotalCount: number;
  };
  /** The instance's `sessionEvents` streams. */
  readonly events: SessionEventSource;
}

/** Where `sessionEvents` come from: the change feed's fan-out on this instance. */
export interface SessionEventSource {
  /** Its `return()` must end it at once, even while it waits for an event. */
  subscribe(userId: string): AsyncIterableIterator<SessionEvent, undefined>;
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

export interface SessionsArgs {
  filter?: { userId?: string | null; status?: readonly string[] | null; ipAddress?: string | null } | null;
  first?: number | null;
  after?: string | null;
}

export class SessionApi {
  /** One admin check per request, however many fields ask. */
  private readonly adminChecks = new WeakMap<object, Promise<boolean>>();

  /** The session runtime (named apart from the `sessions` operation). */
  private readonly runtime: SessionRuntime;
  private readonly directory: SessionDirectory;
  private readonly rules: LimitRules;
  private readonly events: SessionEventSource;
  private readonly leases: LeaseDirectory;
  /** Calls made per request (its context object), for the bound the plugin also checks up front. */
  private readonly callsByRequest = new WeakMap<object, number>();
  private readonly maxCallsPerRequest: number;
  /**
   * The API's share of the pool: its queries wait here, not in the pool's queue before logins,
   * and each user gets a fair share of it (fair-queue.ts).
   */
  private readonly poolShare: FairQueue;
  /** `totalCount` counts at most this many sessions: a listing's cost is bounded whatever the history. */
  private readonly maxTotalCount: number;

  constructor(host: SessionApiHost) {
    this.runtime = host.sessions;
    this.directory = host.directory;
    this.rules = host.rules;
    this.events = host.events;
    this.leases = host.leases;
    this.maxCallsPerRequest = host.limits.maxCallsPerRequest;
    this.poolShare = new FairQueue(host.limits.maxConcurrentQueries, host.limits.maxConcurrentQueriesPerUser);
    this.maxTotalCount = host.limits.maxTotalCount;
  }

  /**
   * Every store call of the API: within the API's share of the pool, in the turn of the user
   * calling (`userId`), under the fail-mode guard.
   */
  private inTurn<T>(userId: string, operation: string, run: () => Promise<T>): Promise<T> {
    return this.runtime.guard(operation, () => this.poolShare.run(userId, run));
  }

  /**
   * Counts a call against the request's bound: the plugin refuses a request over it before it
   * executes; this holds the bound where the plugin is not installed, before the call's SQL.
   */
  private charge(contextValue: unknown): void {
    if (typeof contextValue !== 'object' || contextValue === null) return;
    const calls = (this.callsByRequest.get(contextValue) ?? 0) + 1;
    this.callsByRequest.set(contextValue, calls);
    if (calls > this.maxCallsPerRequest) throw costLimitExceeded(this.maxCallsPerRequest, calls);
  }

  async activeSessions(contextValue: unknown, input: ActiveSessionsArgs): Promise<UserSessionConnectionView> {
    const caller = await this.caller(contextValue);
    const userId =
      input.userId === undefined || input.userId === null ? caller.userId : args.userId('userId', input.userId);
    const first = args.pageSize('first', input.first);
    const after = args.cursor('after', input.after);
    const access = accessTo(
      caller.userId,
      userId,
      userId !== caller.userId && (await this.isAdmin(contextValue, caller)),
    );
    if (access === 'NONE') throw forbidden("Only an administrator may list another user's sessions.");
    const page = await this.inTurn(caller.userId, 'api.activeSessions', () =>
      this.directory.listActive({ userId, first, after, maxCount: this.maxTotalCount }),
    );
    const edges = page.sessions.map(({ session, position }) => ({
      cursor: encodeCursor(position),
      // Listed because the database found it active; its clock decided, not this instance's.
      node: this.view(session, caller, 'ACTIVE'),
    }));
    return {
      edges,
      pageInfo: { hasNextPage: page.hasNextPage, endCursor: edges.length ? edges[edges.length - 1].cursor : null },
      totalCount: page.totalCount,
    };
  }

  /**
   * The session history (docs/contract.md §9): every status within retention, newest first. No
   * `userId`: a non-admin gets their own sessions, an admin everyone's. `totalCount` is counted
   * only if the query asks for it.
   */
  async sessions(contextValue: unknown, input: SessionsArgs): Promise<UserSessionConnectionView> {
    const caller = await this.caller(contextValue);
    const given = input.filter ?? {};
    const requested =
      given.userId === undefined || given.userId === null ? null : args.userId('filter.userId', given.userId);
    let userId: string | null;
    if (requested === null) {
      userId = (await this.isAdmin(contextValue, caller)) ? null : caller.userId;
    } else {
      const access = accessTo(
        caller.userId,
        requested,
        requested !== caller.userId && (await this.isAdmin(contextValue, caller)),
      );
      if (access === 'NONE') throw forbidden("Only an administrator may list another user's sessions.");
      userId = requested;
    }
    const filter: SessionFilter = {
      userId,
      statuses: args.statuses('filter.status', given.status),
      ipAddress: args.ipAddress('filter.ipAddress', given.ipAddress),
    };
    const first = args.pageSize('first', input.first);
    const after = args.cursor('after', input.after);
    const page = await this.inTurn(caller.userId, 'api.sessions', () =>
      this.directory.list({ ...filter, first, after }),
    );
    const edges = page.sessions.map(({ session, status, position }) => ({
      cursor: encodeCursor(position),
      node: this.view(session, caller, status),
    }));
    let total: Promise<number> | undefined;
    const count = () =>
      (total ??= this.inTurn(caller.userId, 'api.sessions', () => this.directory.count(filter, this.maxTotalCount)));
    return {
      edges,
      pageInfo: { hasNextPage: page.hasNextPage, endCursor: edges.length ? edges[edges.length - 1].cursor : null },
      get totalCount() {
        return count();
      },
    };
  }

  /** The live seats on a `@uniqueSession` field, with their sessions. Admins only. */
  async sessionLeases(contextValue: unknown, input: { field: string }): Promise<SessionLeaseView[]> {
    const caller = await this.requireAdmin(contextValue);
    const field = args.field('field', input.field);
    const holdings = await this.inTurn(caller.userId, 'api.sessionLeases', () => this.leases.holdings(field));
    return holdings.map((h) => ({
      field: h.field,
      scope: h.scopeKey === '*' ? 'APP' : 'USER',
      session: this.view(h.session, caller),
      acquiredAt: h.acquiredAt,
      lastUsedAt: h.lastUsedAt,
    }));
  }

  /** The caller's session gives up its seat on a field (e.g. an exam handed in); whether it held one. */
  async releaseLease(contextValue: unknown, input: { field: string }): Promise<boolean> {
    const caller = await this.caller(contextValue);
    const field = args.field('field', input.field);
    const sessionId = caller.sessionId;
    if (!sessionId) return false;
    return this.inTurn(caller.userId, 'api.releaseLease', () => this.leases.endLease(field, sessionId));
  }

  /** Ends any session's seat on a field; whether it held one. Admins only. */
  async revokeLease(contextValue: unknown, input: { field: string; sessionId: string }): Promise<boolean> {
    const caller = await this.requireAdmin(contextValue);
    const field = args.field('field', input.field);
    const sessionId = args.sessionId('sessionId', input.sessionId);
    return this.inTurn(caller.userId, 'api.revokeLease', () => this.leases.endLease(field, sessionId));
  }

  async sessionStats(contextValue: unknown): Promise<SessionStatsView> {
    const caller = await this.requireAdmin(contextValue);
    const counts = await this.inTurn(caller.userId, 'api.sessionStats', () => this.directory.countActive());
    return { ...counts, ...this.runtime.limits };
  }

  async sessionLimitRules(contextValue: unknown): Promise<SessionLimitRuleView[]> {
    const caller = await this.requireAdmin(contextValue);
    const rules = await this.inTurn(caller.userId, 'api.sessionLimitRules', () => this.rules.list());
    return rules.map(toRuleView);
  }

  /**
   * Events about the caller's own sessions (or, for admins, `userId`'s), from every instance, as
   * they happen. Checked like a query before the first event: who calls, and may they see them.
   */
  async sessionEvents(
    contextValue: unknown,
    input: { userId?: string | null },
  ): Promise<AsyncIterableIterator<SessionEventView, undefined>> {
    const caller = await this.caller(contextValue);
    const userId =
      input.userId === undefined || input.userId === null ? caller.userId : args.userId('userId', input.userId);
    const access = accessTo(
      caller.userId,
      userId,
      userId !== caller.userId && (await this.isAdmin(contextValue, caller)),
    );
    if (access === 'NONE') throw forbidden("Only an administrator may follow another user's sessions.");
    const events = this.events.subscribe(userId);
    const view = (session: SessionInfo) => this.view(session, caller);
    // Not a generator: its `return()` reaches the stream at once, even while it waits for an event.
    const stream: AsyncIterableIterator<SessionEventView, undefined> = {
      [Symbol.asyncIterator]: () => stream,
      async next() {
        const step = await events.next();
        if (step.done) return step;
        const event = step.value;
        return { value: { type: event.type, reason: event.reason, session: view(event.session) }, done: false };
      },
      async return() {
        await events.return?.();
        return { value: undefined, done: true };
      },
    };
    return stream;
  }

  async revokeSession(contextValue: unknown, input: { id: string; reason?: string | null }): Promise<UserSessionView> {
    const caller = await this.caller(contextValue);
    const id = args.sessionId('id', input.id);
    const note = args.reason('reason', input.reason);
    const found = await this.inTurn(caller.userId, 'api.revokeSession', () => this.directory.find(id));
    // Unknown and foreign look the same to a non-admin: no existence leak.
    if (!found) throw notFound();
    const access = accessTo(
      caller.userId,
      found.userId,
      found.userId !== caller.userId && (await this.isAdmin(contextValue, caller)),
    );
    if (access === 'NONE') throw notFound();
    const revoked = await this.inTurn(caller.userId, 'api.revokeSession', () =>
      this.runtime.revoke(id, revokeReasonFor(access), note, { by: caller.userId }),
    );
    if (!revoked) throw notFound(); // pruned in between
    return this.view(revoked, caller);
  }

  async revokeOtherSessions(contextValue: unknown): Promise<number> {
    const caller = await this.caller(contextValue);
    const revoked = await this.inTurn(caller.userId, 'api.revokeOtherSessions', () =>
      this.runtime.revokeUser(caller.userId, 'REVOKED', null, caller.sessionId ?? undefined, { by: caller.userId }),
    );
    return revoked.length;
  }

  async revokeUserSessions(contextValue: unknown, input: { userId: string; reason?: string | null }): Promise<number> {
    const caller = await this.requireAdmin(contextValue);
    const userId = args.userId('userId', input.userId);
    const note = args.reason('reason', input.reason);
    const reason = revokeReasonFor(accessTo(caller.userId, userId, true) as 'OWN' | 'ADMIN');
    const revoked = await this.inTurn(caller.userId, 'api.revokeUserSessions', () =>
      this.runtime.revokeUser(userId, reason, note, undefined, { by: caller.userId }),
    );
    return revoked.length;
  }

  async setSessionLimit(
    contextValue: unknown,
    input: { subjectType: string; subject: string; maxSessions?: number | null },
  ): Promise<SessionLimitRuleView> {
    const caller = await this.requireAdmin(contextValue);
    const rule: LimitRule = {
      subjectType: args.subjectType('subjectType', input.subjectType),
      subject: args.subject('subject', input.subject),
      maxSessions: args.maxSessions('maxSessions', input.maxSessions),
    };
    return toRuleView(await this.inTurn(caller.userId, 'api.setSessionLimit', () => this.rules.set(rule)));
  }

  async removeSessionLimit(contextValue: unknown, input: { subjectType: string; subject: string }): Promise<boolean> {
    const caller = await this.requireAdmin(contextValue);
    const subjectType = args.subjectType('subjectType', input.subjectType);
    const subject = args.subject('subject', input.subject);
    return this.inTurn(caller.userId, 'api.removeSessionLimit', () => this.rules.remove(subjectType, subject));
  }

  /**
   * The caller as the plugin recorded it. Without the plugin (not installed, or `enabled: false`)
   * the host's `identify` still decides who is calling, and the store which session is theirs.
   */
  private async caller(contextValue: unknown): Promise<Caller> {
    this.charge(contextValue);
    const recorded = getRequestSession(contextValue);
    const identity = recorded ? recorded.identity : await this.runtime.identify(contextValue);
    if (!identity) throw unauthenticated();
    let sessionId = recorded?.session?.id ?? null;
    if (!sessionId) {
      const own = await this.inTurn(identity.userId, 'api.caller', () =>
        this.directory.ownerOfKey(hashSessionKey(identity.sessionKey)),
      );
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
    const check = this.runtime.isAdmin(caller.identity);
    if (key) this.adminChecks.set(key, check);
    return check;
  }

  private view(session: SessionInfo, caller: Caller, status?: SessionStatusValue): UserSessionView {
    return userSessionView(
      session,
      session.id === caller.sessionId,
      this.runtime.timeouts,
      this.runtime.dbNow(),
      status,
    );
  }
}

function toRuleView(rule: LimitRule): SessionLimitRuleView {
  return { subjectType: rule.subjectType, subject: rule.subject, maxSessions: rule.maxSessions };
}
