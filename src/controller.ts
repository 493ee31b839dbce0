/**
 * The one object a host creates: it decides the kill switch, builds every part in the order they
 * need each other, and hands out the adapters wired to them.
 */
import type { GraphQLSchema } from 'graphql';
import { ADAPTER_RUNTIMES, type AdapterRuntimes } from './adapter-runtimes.js';
import { claimAdmission } from './admission-scope.js';
import { createSessionResolverMap, type SessionResolverMap } from './api/resolver-map.js';
import { SessionApi } from './api/session-api.js';
import { sessionTypeDefs } from './api/type-defs.js';
import { type UserSessionView, userSessionView } from './api/views.js';
import { uniqueSessionTransformer } from './directive/transformer.js';
import { badUserInput, SessionConfigError, SessionDatabaseError, SessionShutdownError } from './errors.js';
import { HookRunner } from './hooks.js';
import type { Identity } from './identity.js';
import { Log } from './logger.js';
import {
  type MetricsOptions,
  type MetricsRegistry,
  registerMetrics,
  type SessionMetrics,
} from './metrics/prometheus.js';
import { type ResolvedOptions, resolveOptions, type SessionControllerOptions } from './options.js';
import { disabledPlugin, sessionPlugin } from './plugin.js';
import { AppCountKeeper } from './runtime/app-count-keeper.js';
import { ChangeFeed } from './runtime/change-feed.js';
import { ConnectionRegistry } from './runtime/connections.js';
import type { Operations, RuntimeMonitor } from './runtime/contracts.js';
import { DbClock } from './runtime/db-clock.js';
import { ChangeFanOut } from './runtime/fan-out.js';
import { HostFunctions } from './runtime/host-functions.js';
import { LEASE_CHECK_INTERVAL_MS, LeaseKeeper } from './runtime/lease-keeper.js';
import { Leases } from './runtime/leases.js';
import { LiveOperations } from './runtime/live-operations.js';
import { type PruneResult, Pruner } from './runtime/pruner.js';
import { SessionCache } from './runtime/session-cache.js';
import { SessionEventHub } from './runtime/session-events.js';
import { SessionTouches } from './runtime/session-touches.js';
import { type Governance, Sessions } from './runtime/sessions.js';
import { SocketStoreGuard } from './runtime/socket-store-guard.js';
import { MissingDatabaseError, openDatabase } from './store/database.js';
import type { LeaseHolding, LeaseInfo } from './store/lease-table.js';
import { Store } from './store/store.js';
import type { RevokeOptions, RevokeUserOptions, SessionInfo } from './vocabulary.js';
import { type GovernedServerOptions, type GovernedWebSocketOptions, governedWebSocket } from './websocket.js';

/** How long `close()` keeps retrying to write pending touches while the store is away. */
const SHUTDOWN_FLUSH_DEADLINE_MS = 5_000;

/**
 * What `plugin()` returns: an Apollo Server plugin, typed by its shape rather than as Apollo's
 * `ApolloServerPlugin`, so that it fits `new ApolloServer({ plugins })` whichever of Apollo's
 * declarations the host's code sees. A CommonJS TypeScript app sees Apollo's CommonJS ones, whose
 * classes are other types than the ESM ones this package is compiled against.
 */
export interface SessionPlugin {
  // `any`: Apollo's own parameter types are what must not be named here.
  serverWillStart?(service: any): Promise<any>;
  requestDidStart?(requestContext: any): Promise<any>;
}

/** Behind the kill switch explicit admissions are still recorded, but no cap applies. */
const DISABLED_GOVERNANCE: Governance = { limits: { appLimit: null, defaultUserLimit: null }, limitFor: undefined };

/**
 * The one object a host creates. It only assembles: the store, the session and lease runtimes,
 * the change feed and the pruner, and hands out the adapters (plugin, directive support,
 * session API) wired to them (docs/design.md, "Module map").
 */
export class SessionController<TContext = any> {
  private readonly sessions: Sessions;
  private readonly clock = new DbClock();
  private readonly touches: SessionTouches;
  private readonly leases: Leases;
  private readonly feed: ChangeFeed;
  private readonly pruner: Pruner;
  private readonly connections: ConnectionRegistry;
  private readonly events: SessionEventHub;
  private readonly liveOperations = new LiveOperations();
  private readonly leaseKeeper: LeaseKeeper;
  private readonly socketGuard: SocketStoreGuard;
  private readonly log: Log;
  private readonly hooks: HookRunner;
  private readonly appCount: AppCountKeeper;
  private sessionApi?: SessionApi;
  /** One set of metrics per registry: asking again returns it. */
  private readonly registered = new Map<MetricsRegistry | undefined, Promise<SessionMetrics>>();
  private closed = false;

  private constructor(
    private readonly options: ResolvedOptions<TContext>,
    private readonly store: Store,
    log: Log,
  ) {
    this.log = log;
    const hooks = (this.hooks = new HookRunner(options, this.log));
    // The kill switch is decided here, once: caps, the plugin and background work follow from it.
    const governance: Governance = options.enabled
      ? {
          limits: { appLimit: options.appLimit, defaultUserLimit: options.defaultUserLimit },
          limitFor: options.limitFor,
        }
      : DISABLED_GOVERNANCE;
    // Built in the order they need each other: every part is complete when it is constructed.
    const clock = this.clock;
    const cache = new SessionCache(options.cacheSize);
    this.touches = new SessionTouches(
      cache,
      clock,
      options.touchIntervalMs,
      (entries) => store.sessions.touch(entries),
      (error) => hooks.storeFailed('touch', error),
    );
    this.connections = new ConnectionRegistry(options.timeouts, clock, this.touches, options.touchIntervalMs);
    this.events = new SessionEventHub(
      store.reads,
      store.changes,
      { timeouts: options.timeouts, syncIntervalMs: options.syncIntervalMs, dbNow: () => clock.now() },
      (operation, error) => hooks.storeFailed(operation, error),
    );
    const fanOut = new ChangeFanOut([cache, this.connections, this.events]);
    this.feed = new ChangeFeed(
      store.changes,
      clock,
      options.syncIntervalMs,
      options.maxStalenessMs,
      (notice) => fanOut.apply(notice),
      (operation, error) => hooks.storeFailed(operation, error),
      () => hooks.storeAnswered(),
    );
    const host = new HostFunctions(
      {
        identify: options.identify,
        isExempt: options.isExempt,
        isAdmin: options.isAdmin,
        limitFor: governance.limitFor,
      },
      this.log,
    );
    this.sessions = new Sessions(options, governance.limits, {
      table: store.sessions,
      hooks,
      host,
      clock,
      cache,
      touches: this.touches,
      feed: this.feed,
      changes: this.feed,
    });
    this.leases = new Leases(options, store.leases, this.sessions, hooks);
    this.leaseKeeper = new LeaseKeeper(this.leases, Math.min(LEASE_CHECK_INTERVAL_MS, options.leaseTtlMs / 3));
    this.socketGuard = new SocketStoreGuard(this.feed, this.connections, options.failMode);
    this.pruner = new Pruner(store.pruning, (error) => hooks.storeFailed('prune', error));
    this.appCount = new AppCountKeeper(store.appCount, (operation, error) => hooks.storeFailed(operation, error));
  }

  /** Validates the options, opens the store, applies migrations (unless `migrate: false`). */
  static async create<TContext = any>(
    options: SessionControllerOptions<TContext>,
  ): Promise<SessionController<TContext>> {
    const resolved = resolveOptions(options);
    const log = new Log(resolved.logger);
    const db = await openDatabase(resolved.database, {
      createDatabase: resolved.createDatabase,
      ssl: resolved.ssl,
      log,
      preparedStatements: resolved.preparedStatements,
      onPreparedOff: (error) =>
        log.warn(
          `prepared statements are off from now on: the database refused one (${error.message}); ` +
            'a pooler in transaction mode that cannot carry them (PgBouncer before 1.21, or max_prepared_statements = 0) does this. ' +
            'Nothing failed; pass preparedStatements: false to skip the first attempt.',
        ),
    }).catch((error: Error) => {
      if (error instanceof MissingDatabaseError) {
        throw new SessionConfigError(
          `Invalid option "database": the PostgreSQL database "${error.database}" does not exist. ` +
            'Check the URL, create the database, or pass createDatabase: true to let the controller create it.',
        );
      }
      if (error instanceof SessionConfigError) throw error;
      if (error instanceof SessionDatabaseError) {
        throw new SessionDatabaseError(
          error.code,
          `Cannot open the session store given by option "database": ${error.message}`,
        );
      }
      // Name the option to look at; the driver's message (never the URL's password) says why.
      throw new Error(`Cannot open the session store given by option "database": ${error.message}`, { cause: error });
    });
    const store = new Store(db, {
      ...resolved,
      onReplicaState: (replica, state, error) =>
        state === 'down'
          ? log.warn(`read replica ${replica} left for now, listings go to the primary: ${error?.message}`)
          : log.warn(`read replica ${replica} answers listings again`),
    });
    await warnAboutReplicas(store, log);
    const controller = new SessionController<TContext>(resolved, store, log);
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
    this.touches.start();
    await this.feed.start();
    this.pruner.start(this.options.pruneIntervalMs);
    this.socketGuard.start();
    if (this.options.appLimit !== null) this.appCount.start();
  }

  /** Applies pending migrations; returns their names. */
  migrate(): Promise<string[]> {
    return this.store.migrate();
  }

  /** The Apollo Server plugin that enforces the app- and user-level caps. */
  plugin(): SessionPlugin {
    if (!this.options.enabled) return disabledPlugin();
    return sessionPlugin({
      sessions: this.sessions,
      leases: this.leases,
      flush: () => this.flush(),
      adoptLogger: (logger) => this.log.adopt(logger),
      maxApiCallsPerRequest: this.options.api.maxCallsPerRequest,
    });
  }

  /** The session API's operations (docs/contract.md §5), for hosts that wire resolvers themselves. */
  get api(): SessionApi {
    return (this.sessionApi ??= new SessionApi({
      sessions: this.sessions,
      directory: this.store.listings,
      rules: this.store.listedRules,
      leases: this.leases,
      limits: this.options.api,
      events: this.events,
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
   * What `useServer` of graphql-ws needs to serve subscriptions (and any operation) over
   * WebSocket governed like HTTP requests: the session is checked on connect and on every
   * subscribe, its sockets close when it is revoked (on any instance) or times out, and
   * `@uniqueSession` subscription fields hold their seat while they live. Its bounds, origins
   * and defences are options; the `WebSocketServer` takes its `serverOptions`:
   * `const live = sessions.websocket({ schema, context }); useServer(live, new WebSocketServer({ server, path, ...live.serverOptions }))`.
   */
  websocket(options: GovernedWebSocketOptions<TContext>): GovernedServerOptions {
    return governedWebSocket(
      {
        sessions: this.sessions,
        leases: this.leases,
        connections: this.connections,
        maxApiCallsPerRequest: this.options.api.maxCallsPerRequest,
        operations: this.liveOperations,
        leaseKeeper: this.leaseKeeper,
        storeGuard: this.socketGuard,
        enabled: this.options.enabled,
        logError: (message) => this.log.error(message),
      },
      options,
    );
  }

  /** What the envelop plugin (src/envelop.ts) is wired to: not part of the documented surface. */
  [ADAPTER_RUNTIMES](): AdapterRuntimes {
    return {
      sessions: this.sessions,
      leases: this.leases,
      connections: this.connections,
      maxApiCallsPerRequest: this.options.api.maxCallsPerRequest,
      leaseTtlMs: this.options.leaseTtlMs,
      enabled: this.options.enabled,
    };
  }

  /** Open governed WebSocket connections on this instance. */
  get openConnections(): number {
    return this.connections.size;
  }

  /**
   * Operations streaming over this instance's governed WebSockets whose iterator has not finished:
   * a subscription leaves the count when its iterator has ended, not merely been asked to.
   */
  get openSubscriptions(): number {
    return this.liveOperations.size;
  }

  /**
   * Explicit admission, for login resolvers: the same path as a first request with an unknown
   * key. Returns the session, or throws the `GraphQLError` a request would get. Pass the
   * resolver's `context`: a second admission in the same operation (aliased logins) is then
   * refused with `ONE_SESSION_PER_OPERATION`, over HTTP and WebSocket alike.
   */
  openSession(identity: Identity, context?: object): Promise<SessionInfo> {
    try {
      // A second admission in the same operation (aliased logins) is refused: admission-scope.ts.
      claimAdmission(context);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.sessions.openSession(identity);
  }

  /** A session as the session API's `UserSession` type shows it (e.g. for a login's payload). */
  userSession(session: SessionInfo, { current = false }: { current?: boolean } = {}): UserSessionView {
    return userSessionView(session, current, this.options.timeouts, this.sessions.dbNow());
  }

  /**
   * Revokes one session. Returns it as stored (unchanged if it was already revoked), or `null` if
   * unknown. `reason` defaults to `'REVOKED'`; `note` is kept as `revokedNote`; `by`: the user id
   * of the caller that revokes (shown as `revokedBy`, given to `onRevoke`), e.g. the session's own
   * user at logout; omitted for code without a caller.
   */
  revoke(sessionId: string, { reason = 'REVOKED', note = null, by }: RevokeOptions = {}): Promise<SessionInfo | null> {
    return this.sessions.revoke(sessionId, reason, note, { by });
  }

  /**
   * Revokes every live session of a user but the one `except` names; returns those it revoked.
   * `reason` defaults to `'ADMIN_REVOKED'`; `note` and `by` as for `revoke`.
   */
  revokeUser(
    userId: string,
    { reason = 'ADMIN_REVOKED', note = null, except, by }: RevokeUserOptions = {},
  ): Promise<SessionInfo[]> {
    return this.sessions.revokeUser(userId, reason, note, except, { by });
  }

  /**
   * Revokes every live session of many users at once (offboarding a team, a breach): one
   * statement in one transaction, one batch of notices to the fleet, so 1,000 users' sockets
   * close within a second where 1,000 `revokeUser` calls are bound by commit latency. Returns
   * the sessions it revoked. A user id that is not a non-empty string rejects with
   * `BAD_USER_INPUT` before anything is revoked.
   */
  revokeUsers(
    userIds: readonly string[],
    { reason = 'ADMIN_REVOKED', note = null, by = null }: RevokeOptions = {},
  ): Promise<SessionInfo[]> {
    if (!Array.isArray(userIds)) {
      return Promise.reject(badUserInput('userIds', 'must be an array of user ids.'));
    }
    const bad = userIds.findIndex((id) => typeof id !== 'string' || id === '');
    if (bad !== -1) {
      return Promise.reject(badUserInput(`userIds[${bad}]`, 'must be a non-empty string.'));
    }
    return this.sessions.revokeUsers([...new Set(userIds)], reason, note, { by });
  }

  /**
   * The live leases on a `@uniqueSession` field (`Type.field`): for `scope: USER` pass the user
   * id as `scopeKey`, for `scope: APP` pass `'*'`. Most recently used first.
   */
  leaseHolders(field: string, scopeKey: string): Promise<LeaseInfo[]> {
    return this.leases.holders(field, scopeKey);
  }

  /**
   * Every live seat on a `@uniqueSession` field (`Type.field`), in every scope, with its session:
   * most recently used first (at most 1,000).
   */
  sessionLeases(field: string): Promise<LeaseHolding[]> {
    return this.leases.holdings(field);
  }

  /**
   * Ends a session's seat on a field, as an operator or from the host's code (an exam handed in):
   * the seat is free for the next newcomer at once, and the session itself stays signed in. The
   * one way to end a seat from code, as the admin's `revokeLease` mutation; a session giving up its
   * own seat over GraphQL is the `releaseLease` mutation. Returns whether the session held a live
   * seat there.
   */
  revokeLease(field: string, sessionId: string): Promise<boolean> {
    return this.leases.endLease(field, sessionId);
  }

  /**
   * Deletes sessions revoked or expired longer ago than `retention`, and dead leases, now.
   * It also runs every `pruneInterval` on one instance at a time.
   */
  prune(): Promise<PruneResult> {
    return this.pruner.prune();
  }

  /**
   * Registers the library's Prometheus metrics (docs/contract.md §9) on `registry`, or on
   * prom-client's default registry: `gsc_admissions_total{result,level}`,
   * `gsc_revocations_total{reason}`, `gsc_lease_refusals_total{field}`,
   * `gsc_store_errors_total{operation}`, `gsc_active_sessions` (read from the store at most once
   * every 5 s), `gsc_admission_duration_seconds`, `gsc_cache_entries`. Needs the optional peer
   * `prom-client` (a `SessionConfigError` says so if it is missing). Asking again for the same
   * registry returns the same metrics; `close()` on them unregisters them.
   */
  metrics(options: MetricsOptions = {}): Promise<SessionMetrics> {
    const key = options.registry;
    let registered = this.registered.get(key);
    if (!registered) {
      registered = registerMetrics(this.monitor(), options).then((metrics) => ({
        registry: metrics.registry,
        close: () => {
          this.registered.delete(key);
          metrics.close();
        },
      }));
      registered.catch(() => this.registered.delete(key));
      this.registered.set(key, registered);
    }
    return registered;
  }

  /** What the metrics read: the runtimes' reports, the cache's size, the store's active count. */
  private monitor(): RuntimeMonitor {
    return {
      observe: (observer) => this.hooks.observe(observer),
      cachedSessions: () => this.sessions.cachedSessions,
      activeSessions: () => this.sessions.guard('metrics', () => this.store.reads.countActiveSessions()),
    };
  }

  /**
   * The operator's view of this controller (docs/contract.md §9): the store's reads, the limit
   * rules, revocations that reach every running instance like any other, migrations and pruning.
   * The command line (`graphql-session-controller`) is built on it, on a controller created with
   * `enabled: false` (no background work).
   */
  operations(): Operations {
    return {
      sessions: this.sessions,
      directory: this.store.listings,
      rules: this.store.listedRules,
      migrate: () => this.migrate(),
      prune: (onBatch) => this.pruner.prune(onBatch),
      prunable: () => this.pruner.prunable(),
      close: () => this.close(),
    };
  }

  /** Writes pending last-seen touches now. */
  flush(): Promise<void> {
    return this.touches.flush();
  }

  /**
   * Flushes pending last-seen touches (retrying for up to `flushDeadline` ms while the store is
   * away), stops background work and closes the store if this controller opened it. Rejects with
   * a `SessionShutdownError` saying how many touches were lost if the store never came back.
   * Idempotent.
   */
  async close({ flushDeadline = SHUTDOWN_FLUSH_DEADLINE_MS }: { flushDeadline?: number } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // A scrape after close must not reach a closed store: the metrics leave their registries.
    await Promise.all(
      [...this.registered.values()].map((m) =>
        m.then(
          (metrics) => metrics.close(),
          () => {},
        ),
      ),
    );
    this.socketGuard.stop();
    this.leaseKeeper.stop();
    this.connections.stop();
    this.events.stop();
    const lost = await this.touches.stop(flushDeadline);
    await this.pruner.stop();
    await this.appCount.stop();
    await this.feed.stop();
    await this.store.close();
    if (lost) throw new SessionShutdownError(lost, flushDeadline);
  }

  /** How many sessions this instance keeps in memory (bounded by `cacheSize`). */
  get cachedSessions(): number {
    return this.sessions.cachedSessions;
  }
}

/**
 * A replica that does not answer, or is no standby, is no reason to refuse to start (listings go
 * to the primary meanwhile; a promoted standby still in the list is harmless), but it is worth a
 * word: a typo in a URL would otherwise go unnoticed.
 */
async function warnAboutReplicas(store: Store, log: Log): Promise<void> {
  for (const { label, standby, error } of await store.replicas.probe()) {
    if (error)
      log.warn(`read replica ${label} does not answer (${error.message}): listings go to the primary until it does`);
    else if (!standby)
      log.warn(`read replica ${label} is not a hot standby (not in recovery): it will answer no listing`);
  }
}
