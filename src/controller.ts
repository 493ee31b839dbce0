import type { ApolloServerPlugin } from '@apollo/server';
import type { GraphQLSchema } from 'graphql';
import { createSessionResolverMap, type SessionResolverMap } from './api/resolver-map.js';
import { SessionApi } from './api/session-api.js';
import { sessionTypeDefs } from './api/type-defs.js';
import { type UserSessionView, userSessionView } from './api/views.js';
import { uniqueSessionTransformer } from './directive/transformer.js';
import { HookRunner } from './hooks.js';
import type { Identity } from './identity.js';
import { resolveOptions, type ResolvedOptions, type SessionControllerOptions } from './options.js';
import { inertPlugin, sessionPlugin } from './plugin.js';
import { AppCountKeeper } from './runtime/app-count-keeper.js';
import { ChangeFeed } from './runtime/change-feed.js';
import { Leases } from './runtime/leases.js';
import { type PruneResult, Pruner } from './runtime/pruner.js';
import { type Governance, Sessions } from './runtime/sessions.js';
import { openDatabase } from './store/database.js';
import type { LeaseInfo } from './store/lease-store.js';
import type { SqlRunner } from './store/sql.js';
import { Store } from './store/store.js';
import type { RevokeReason, SessionInfo } from './vocabulary.js';

/** Behind the kill switch explicit admissions are still recorded, but no cap applies. */
const NO_CAPS: Governance = { limits: { appLimit: null, defaultUserLimit: null }, limitFor: undefined };

/**
 * The one object a host creates. It only assembles: the store, the session and lease runtimes,
 * the change feed and the pruner, and hands out the adapters (plugin, directive support,
 * session API) wired to them (docs/design.md, "Module map").
 */
export class SessionController<TContext = any> {
  private readonly sessions: Sessions;
  private readonly leases: Leases;
  private readonly feed: ChangeFeed;
  private readonly pruner: Pruner;
  private readonly appCount: AppCountKeeper;
  private sessionApi?: SessionApi;
  private closed = false;

  private constructor(
    private readonly options: ResolvedOptions<TContext>,
    private readonly store: Store,
  ) {
    const hooks = new HookRunner(options);
    // The kill switch is decided here, once: caps, the plugin and background work follow from it.
    const governance: Governance = options.enabled
      ? { limits: { appLimit: options.appLimit, defaultUserLimit: options.defaultUserLimit }, limitFor: options.limitFor }
      : NO_CAPS;
    this.sessions = new Sessions(options, governance, store.sessions, hooks);
    this.leases = new Leases(options, store.leases, this.sessions, hooks);
    this.feed = new ChangeFeed(
      store.changes,
      options.syncIntervalMs,
      options.maxStalenessMs,
      (notice) => this.sessions.forgetRevoked(notice),
      (operation, error) => hooks.storeFailed(operation, error),
    );
    this.sessions.attachFeed(this.feed);
    this.pruner = new Pruner(store.pruning, (error) => hooks.storeFailed('prune', error));
    this.appCount = new AppCountKeeper(store.appCount, (operation, error) => hooks.storeFailed(operation, error));
  }

  /** Validates the options, opens the store, applies migrations (unless `migrate: false`). */
  static async create<TContext = any>(options: SessionControllerOptions<TContext>): Promise<SessionController<TContext>> {
    const resolved = resolveOptions(options);
    const db = await openDatabase(resolved.database).catch((error: Error) => {
      // Name the option to look at; the driver's message (never the URL's password) says why.
      throw new Error(`Cannot open the session store given by option "database": ${error.message}`, { cause: error });
    });
    const store = new Store(db, resolved);
    const controller = new SessionController<TContext>(resolved, store);
    try {
      if (resolved.migrate) await store.migrate();
      if (resolved.enabled) await controller.start();
    } catch (error) {
      await store.close().catch(() => {});
      throw error;
    }
    return controller;
  }

  private async start(): Promise<void> {
    this.sessions.startBackground();
    await this.feed.start();
    this.pruner.start(this.options.pruneIntervalMs);
    if (this.options.appLimit !== null) this.appCount.start();
  }

  /** Applies pending migrations; returns their names. */
  migrate(): Promise<string[]> {
    return this.store.migrate();
  }

  /** The Apollo Server plugin that enforces the app- and user-level caps. */
  plugin(): ApolloServerPlugin<any> {
    if (!this.options.enabled) return inertPlugin();
    return sessionPlugin({
      sessions: this.sessions,
      leases: this.leases,
      flush: () => this.flush(),
      maxApiCallsPerRequest: this.options.api.maxCallsPerRequest,
    });
  }

  /** The session API's operations (docs/contract.md §5), for hosts that wire resolvers themselves. */
  get api(): SessionApi {
    return (this.sessionApi ??= new SessionApi({
      sessions: this.sessions,
      directory: this.store.queries,
      rules: this.store.rules,
      limits: this.options.api,
    }));
  }

  /** The session API as a resolver map for schema-first servers, to use with `typeDefs`. */
  get resolverMap(): SessionResolverMap {
    return createSessionResolverMap(this.api);
  }

  /** Everything the library adds to a schema (`@uniqueSession` and the session API), as in `schema.graphql`. */
  get typeDefs(): string {
    return sessionTypeDefs();
  }

  /**
   * Enforces `@uniqueSession` on a schema-first executable schema: returns a copy in which the
   * governed fields' resolvers take their seats first. Invalid arguments throw a
   * `SessionConfigError` naming the field.
   */
  transformSchema(schema: GraphQLSchema): GraphQLSchema {
    return uniqueSessionTransformer(schema);
  }

  /**
   * Explicit admission, for login resolvers: the same path as a first request with an unknown
   * key. Returns the session, or throws the `GraphQLError` a request would get.
   */
  openSession(identity: Identity): Promise<SessionInfo> {
    return this.sessions.openSession(identity);
  }

  /** A session as the session API's `UserSession` type shows it (e.g. for a login's payload). */
  userSession(session: SessionInfo, { current = false }: { current?: boolean } = {}): UserSessionView {
    return userSessionView(session, current, this.options.timeouts, this.sessions.dbNow());
  }

  /** Revokes one session. Returns it as stored (unchanged if it was already revoked), or `null` if unknown. */
  revoke(sessionId: string, reason: RevokeReason = 'REVOKED', note: string | null = null): Promise<SessionInfo | null> {
    return this.sessions.revoke(sessionId, reason, note);
  }

  /** Revokes every live session of a user (but `exceptSessionId`); returns those it revoked. */
  revokeUser(
    userId: string,
    reason: RevokeReason = 'ADMIN_REVOKED',
    note: string | null = null,
    exceptSessionId?: string,
  ): Promise<SessionInfo[]> {
    return this.sessions.revokeUser(userId, reason, note, exceptSessionId);
  }

  /**
   * The live leases on a `@uniqueSession` field (`Type.field`): for `scope: USER` pass the user
   * id as `scopeKey`, for `scope: APP` pass `'*'`. Most recently used first.
   */
  leaseHolders(field: string, scopeKey: string): Promise<LeaseInfo[]> {
    return this.leases.holders(field, scopeKey);
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
    return this.sessions.flush();
  }

  /** Flushes, stops background work and closes the store if this controller opened it. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.sessions.stop();
    await this.pruner.stop();
    await this.appCount.stop();
    await this.feed.stop();
    await this.store.close();
  }

  /** How many sessions this instance keeps in memory (bounded by `cacheSize`). */
  get cachedSessions(): number {
    return this.sessions.cachedSessions;
  }
}

/**
 * The parts a controller assembled, for the library's own tests and benchmarks (which count
 * store calls and read rows directly). Not exported from the package.
 */
export function internalsOf(controller: SessionController): {
  store: Store;
  sql: SqlRunner;
  sessions: Sessions;
  leases: Leases;
  appCount: AppCountKeeper;
} {
  const c = controller as unknown as { store: Store; sessions: Sessions; leases: Leases; appCount: AppCountKeeper };
  return { store: c.store, sql: c.store.sql, sessions: c.sessions, leases: c.leases, appCount: c.appCount };
}
