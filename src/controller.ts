import type { ApolloServerPlugin } from '@apollo/server';
import { GraphQLError, type GraphQLSchema } from 'graphql';
import { ChangeFeed, type RevokedNotice } from './change-feed.js';
import {
  sessionExpired,
  sessionLimitExceeded,
  sessionRevoked,
  storeUnavailable,
  unauthenticated,
  type RevokeReason,
} from './errors.js';
import type { SessionInfo } from './events.js';
import { checkIdentity, hashSessionKey, publicIdentity, type Identity } from './identity.js';
import { resolveOptions, type ResolvedOptions, type SessionControllerOptions } from './options.js';
import { sessionPlugin } from './plugin.js';
import { sessionState, type Limit, type Timeouts } from './policy.js';
import { currentSession, setRequestSession, type CurrentSession } from './request-session.js';
import { SessionCache } from './session-cache.js';
import { migrateDatabase, openDatabase, type Database } from './store/database.js';
import { toSessionInfo, type StoredSession } from './store/rows.js';
import { SessionStore } from './store/session-store.js';
import { TouchBatcher } from './touch-batcher.js';
import { createSessionResolverMap, type SessionResolverMap } from './api/resolver-map.js';
import { createSessionResolvers } from './api/resolvers.js';
import { SessionApi } from './api/session-api.js';
import { sessionTypeDefs } from './api/type-defs.js';
import type { NonEmptyArray } from 'type-graphql';
import { uniqueSessionTransformer } from './directive/transformer.js';
import { uniqueSessionTypeDefs } from './directive/type-defs.js';
import { LeaseStore } from './store/lease-store.js';
import { LeaseMemory } from './lease-memory.js';
import { Pruner, type PruneResult } from './pruner.js';

/** Touches are written at least this often, whatever `touchInterval` is, so shutdown loses little. */
const MAX_FLUSH_EVERY_MS = 1_000;

/**
 * The one object a host creates: it owns the store, the per-instance cache and the change feed,
 * and hands out the plugin, the directive support and the session API.
 */
export class SessionController<TContext = any> {
  readonly options: ResolvedOptions<TContext>;
  readonly store: SessionStore;
  readonly timeouts: Timeouts;
  /** `@uniqueSession` leases: acquired by governed fields, listed with `leases.holders(field, scopeKey)`. */
  readonly leases: LeaseStore;
  /** Leases this instance confirmed recently: the holder's fast path (see `leaseRecheckInterval`). */
  readonly leaseMemory: LeaseMemory;
  /** The `@uniqueSession` directive's SDL, for schema-first type definitions. */
  readonly directiveTypeDefs = uniqueSessionTypeDefs;
  private readonly cache: SessionCache;
  private readonly touches: TouchBatcher;
  private readonly feed: ChangeFeed;
  private readonly pruner: Pruner;
  /** Concurrent requests with one key on one instance share a single database look-up. */
  private readonly inFlight = new Map<string, Promise<StoredSession>>();
  private closed = false;

  private constructor(
    options: ResolvedOptions<TContext>,
    private readonly db: Database,
  ) {
    this.options = options;
    this.timeouts = { idleTimeoutMs: options.idleTimeoutMs, absoluteTimeoutMs: options.absoluteTimeoutMs };
    this.store = new SessionStore(db, this.timeouts);
    this.leases = new LeaseStore(db, this.timeouts, options.leaseTtlMs);
    this.leaseMemory = new LeaseMemory(options.cacheSize, options.leaseRecheckIntervalMs);
    this.cache = new SessionCache(options.cacheSize);
    this.touches = new TouchBatcher(
      (entries) => this.store.touch(entries),
      Math.min(options.touchIntervalMs, MAX_FLUSH_EVERY_MS),
      (error) => this.reportStoreError('touch', error),
    );
    this.feed = new ChangeFeed(
      db,
      this.store,
      options.syncIntervalMs,
      (notice) => this.applyRevocation(notice),
      (operation, error) => this.reportStoreError(operation, error),
    );
    this.pruner = new Pruner(db, this.timeouts, options.retentionMs, options.leaseTtlMs, (error) =>
      this.reportStoreError('prune', error),
    );
  }

  /** Validates the options, opens the store, applies migrations (unless `migrate: false`). */
  static async create<TContext = any>(options: SessionControllerOptions<TContext>): Promise<SessionController<TContext>> {
    const resolved = resolveOptions(options);
    const db = await openDatabase(resolved.database).catch((error: Error) => {
      // Name the option to look at; the driver's message (never the URL's password) says why.
      throw new Error(`Cannot open the session store given by option "database": ${error.message}`, { cause: error });
    });
    const controller = new SessionController<TContext>(resolved, db);
    try {
      if (resolved.migrate) await migrateDatabase(db);
      if (resolved.enabled) await controller.start();
    } catch (error) {
      await db.close().catch(() => {});
      throw error;
    }
    return controller;
  }

  private async start(): Promise<void> {
    this.touches.start();
    await this.feed.start();
    this.pruner.start(this.options.pruneIntervalMs);
  }

  /** Applies pending migrations; returns their names. */
  migrate(): Promise<string[]> {
    return migrateDatabase(this.db);
  }

  /** The Apollo Server plugin that enforces the app- and user-level caps. */
  plugin(): ApolloServerPlugin<any> {
    return sessionPlugin(this);
  }

  private sessionApi?: SessionApi;
  private sessionResolvers?: NonEmptyArray<Function>;

  /** The session API's operations (DESIGN §5), for hosts that wire resolvers themselves. */
  get api(): SessionApi {
    return (this.sessionApi ??= new SessionApi(this));
  }

  /** The session API as type-graphql resolver classes: `buildSchema({ resolvers: [...yours, ...controller.resolvers] })`. */
  get resolvers(): NonEmptyArray<Function> {
    return (this.sessionResolvers ??= createSessionResolvers(() => this.api));
  }

  /** The session API as a resolver map for schema-first servers, to use with `typeDefs`. */
  get resolverMap(): SessionResolverMap {
    return createSessionResolverMap(this.api);
  }

  /** Everything the library adds to a schema (`@uniqueSession` and the session API), as in `schema.graphql`. */
  get typeDefs(): string {
    return sessionTypeDefs();
  }

  /** Enforces `@uniqueSession` on a schema-first executable schema: see `uniqueSessionTransformer`. */
  transformSchema(schema: GraphQLSchema): GraphQLSchema {
    return uniqueSessionTransformer(schema);
  }

  /** The session of the request whose context this is (see `currentSession`). */
  current(contextValue: TContext): CurrentSession | null {
    return currentSession(contextValue);
  }

  /**
   * Explicit admission, for login resolvers: the same path as a first request with an unknown
   * key. Returns the session, or throws the `GraphQLError` a request would get.
   */
  async openSession(identity: Identity): Promise<SessionInfo> {
    const checked = checkIdentity(identity);
    if (!checked) throw unauthenticated('openSession needs an identity.');
    // A login brings a new key: straight to admission, which finds an existing row itself.
    return toSessionInfo(await this.guard('openSession', () => this.sessionFor(checked, { expectNew: true })));
  }

  /**
   * Governs one request: called by the plugin before execution. A known, active session with a
   * synchronous `identify` is settled without a promise, so the hot path allocates none.
   */
  handleRequest(contextValue: TContext): void | Promise<void> {
    const identified = this.options.identify(contextValue);
    if (isPromise(identified)) return identified.then((value) => this.govern(contextValue, value));
    return this.govern(contextValue, identified);
  }

  private govern(contextValue: TContext, identified: unknown): void | Promise<void> {
    const identity = checkIdentity(identified);
    if (!identity) {
      setRequestSession(contextValue as object, { identity: null, session: null, controller: this });
      return;
    }
    const keyHash = hashSessionKey(identity.sessionKey);
    const cached = this.cachedSession(identity, keyHash);
    if (cached) {
      setRequestSession(contextValue as object, { identity, session: cached, controller: this });
      return;
    }
    return this.guard('request', () => this.storedSession(identity, keyHash), () => null).then((session) => {
      setRequestSession(contextValue as object, { identity, session, controller: this });
    });
  }

  /**
   * Runs a store operation under `failMode`: a database failure becomes
   * `SESSION_STORE_UNAVAILABLE` (closed) or the fallback (open); a refusal passes through.
   */
  async guard<T>(operation: string, run: () => Promise<T>, openFallback?: () => T): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof GraphQLError) throw error;
      this.reportStoreError(operation, error as Error);
      if (this.options.failMode === 'open' && openFallback) return openFallback();
      throw storeUnavailable();
    }
  }

  /**
   * The session from memory, if memory may answer: known, active by this instance's view, and
   * the change feed in sync. Past that (the store unreachable from here), a revocation made
   * elsewhere could be missing, so the store decides, and `failMode` if it cannot. A revoked
   * session in memory throws at once.
   */
  private cachedSession(identity: Identity, keyHash: string): StoredSession | undefined {
    const cached = this.cache.get(keyHash);
    if (cached && this.isUsable(cached, identity) && this.feed.isFresh()) return this.touch(cached);
    return undefined;
  }

  /** The active session for this identity, admitting it if its key is new; throws if it may not proceed. */
  private async sessionFor(identity: Identity, { expectNew = false } = {}): Promise<StoredSession> {
    const keyHash = hashSessionKey(identity.sessionKey);
    return this.cachedSession(identity, keyHash) ?? this.storedSession(identity, keyHash, expectNew);
  }

  /**
   * The session as the store has it, for a key memory could not answer for. Expired by this
   * instance's view is a reason to ask too: another instance may have seen the session since.
   */
  private async storedSession(identity: Identity, keyHash: string, expectNew = false): Promise<StoredSession> {
    const session = await this.loadOrAdmit(keyHash, identity, expectNew);
    this.assertUsable(session, identity);
    return this.touch(session);
  }

  private isUsable(session: StoredSession, identity: Identity): boolean {
    if (session.userId !== identity.userId) return false;
    const state = sessionState(session, this.dbNow(), this.timeouts);
    if (state.status === 'REVOKED') throw sessionRevoked(state.reason);
    return state.status === 'ACTIVE';
  }

  private assertUsable(session: StoredSession, identity: Identity): void {
    // A key the host hands to two users is a host bug; refusing is the only safe answer.
    if (session.userId !== identity.userId) throw unauthenticated('This session belongs to another user.');
    const state = sessionState(session, this.dbNow(), this.timeouts);
    if (state.status === 'REVOKED') throw sessionRevoked(state.reason);
    if (state.status === 'EXPIRED') throw sessionExpired(state.reason);
  }

  /**
   * A key missing from memory is usually known to the store (a new instance, an entry the LRU
   * dropped): a plain read, no locks. Only an unknown key takes the admission transaction, which
   * also returns the row if another request inserted it meanwhile.
   */
  private loadOrAdmit(keyHash: string, identity: Identity, expectNew: boolean): Promise<StoredSession> {
    let pending = this.inFlight.get(keyHash);
    if (!pending) {
      pending = (async () => {
        const known = expectNew ? null : await this.store.findByKeyHash(keyHash);
        const found = known ?? (await this.admit(keyHash, identity));
        this.cache.set(found);
        return found;
      })().finally(() => this.inFlight.delete(keyHash));
      this.inFlight.set(keyHash, pending);
    }
    return pending;
  }

  private async admit(keyHash: string, identity: Identity): Promise<StoredSession> {
    const exempt = this.options.isExempt(identity);
    const limitFromOption: Limit | undefined =
      !this.options.enabled ? null
      : exempt || !this.options.limitFor ? undefined
      // `null` is an answer (unlimited), not "no opinion": only `undefined` falls through to the rules.
      : await this.options.limitFor(identity);
    const result = await this.store.admit({
      keyHash,
      userId: identity.userId,
      groups: identity.groups ?? [],
      ipAddress: identity.ip ?? null,
      userAgent: identity.userAgent ?? null,
      exempt,
      limitFromOption,
      // Behind the kill switch, explicit admissions are still recorded, but no cap applies.
      fallbackLimit: this.options.enabled ? this.options.userMaxSessions : null,
      appLimit: this.options.enabled ? this.options.appMaxSessions : null,
      policy: this.options.onLimit,
    });
    const who = publicIdentity(identity);
    if (result.kind === 'EXISTING') return result.session;
    if (result.kind === 'REJECTED') {
      this.callHook(() => this.options.onReject({ identity: who, level: result.level, limit: result.limit }));
      throw sessionLimitExceeded(result.level, result.limit);
    }
    if (result.evicted.length) this.revoked(result.evicted, 'EVICTED', null);
    if (result.overLimit) {
      const { level, limit } = result.overLimit;
      this.callHook(() => this.options.onReject({ identity: who, level, limit, allowed: true }));
    }
    this.callHook(() =>
      this.options.onAdmit({
        session: toSessionInfo(result.session),
        identity: who,
        evicted: result.evicted.map(toSessionInfo),
        ...(result.overLimit ? { overLimit: result.overLimit } : {}),
      }),
    );
    return result.session;
  }

  /** At most one write per session per `touchInterval`, and never on the request's path. */
  private touch(session: StoredSession): StoredSession {
    const now = this.dbNow();
    if (now - session.lastSeenAt.getTime() < this.options.touchIntervalMs) return session;
    const touched = { ...session, lastSeenAt: new Date(now) };
    this.cache.set(touched);
    this.touches.add(session.id, touched.lastSeenAt);
    return touched;
  }

  /** Revokes one session. Returns it as stored (unchanged if it was already revoked), or `null` if unknown. */
  async revoke(sessionId: string, reason: RevokeReason = 'REVOKED', note: string | null = null): Promise<SessionInfo | null> {
    const changed = await this.store.revokeById(sessionId, reason, note);
    if (changed.length) {
      this.revoked(changed, reason, note);
      return toSessionInfo(changed[0]);
    }
    const existing = await this.store.findById(sessionId);
    return existing ? toSessionInfo(existing) : null;
  }

  /** Revokes every live session of a user (but `exceptSessionId`); returns those it revoked. */
  async revokeUser(
    userId: string,
    reason: RevokeReason = 'ADMIN_REVOKED',
    note: string | null = null,
    exceptSessionId?: string,
  ): Promise<SessionInfo[]> {
    const changed = await this.store.revokeByUser(userId, reason, note, exceptSessionId);
    if (changed.length) this.revoked(changed, reason, note);
    return changed.map(toSessionInfo);
  }

  /** After a revoking transaction commits: update this instance, tell the others, call the hook. */
  private revoked(sessions: StoredSession[], reason: RevokeReason, note: string | null): void {
    for (const s of sessions) this.applyRevocation({ keyHash: s.keyHash, revokedAt: s.revokedAt ?? new Date(), reason });
    void this.feed.publish(sessions);
    this.callHook(() => this.options.onRevoke({ sessions: sessions.map(toSessionInfo), reason, note }));
  }

  private applyRevocation(notice: RevokedNotice): void {
    this.cache.markRevoked(notice.keyHash, notice.revokedAt, notice.reason);
  }

  /** Milliseconds on the database clock, estimated locally from the last measured offset. */
  dbNow(): number {
    return Date.now() + this.feed.clockOffsetMs;
  }

  /**
   * Deletes sessions revoked or expired longer ago than `retention`, and dead leases, now.
   * It also runs every `pruneInterval` on one instance at a time.
   */
  prune(): Promise<PruneResult> {
    return this.pruner.prune();
  }

  /** Writes pending last-seen touches now. */
  flush(): Promise<void> {
    return this.touches.flush();
  }

  /** Flushes, stops background work and closes the store if this controller opened it. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.touches.stop();
    await this.pruner.stop();
    await this.feed.stop();
    await this.db.close();
  }

  /** How many sessions this instance keeps in memory (bounded by `cacheSize`). */
  get cachedSessions(): number {
    return this.cache.size;
  }

  private reportStoreError(operation: string, error: Error): void {
    this.callHook(() => this.options.onStoreError({ operation, error }));
  }

  /** Host hooks observe; a throwing hook must not fail the request (or field) it observes. */
  callHook(call: () => void): void {
    try {
      call();
    } catch (error) {
      console.error('[graphql-session-controller] a hook threw:', (error as Error).message);
    }
  }
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}
