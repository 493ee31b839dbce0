/**
 * Every option, its default and its validation, resolved once at `create`: a mistake fails at
 * start-up, naming the option, never at the first request.
 */

import ms from 'ms';
import { redactConnectionString } from './connection-string.js';
import { SessionConfigError } from './errors.js';
import type { AdmitEvent, LeaseEvictEvent, RejectEvent, RevokeEvent, StoreErrorEvent } from './hooks.js';
import type { Identity } from './identity.js';
import type { Logger } from './logger.js';
import { defaultMaxStalenessMs, defaultTouchIntervalMs, OPTION_DEFAULTS } from './option-defaults.js';
import { ConnectionUrlError, connectionConfig, type SslOption } from './store/connection-config.js';
import { LIMIT_POLICIES, type Limit, type LimitPolicy, type Timeouts } from './vocabulary.js';

/** A duration: milliseconds as a number, or a string such as `'30s'`, `'30m'`, `'12h'`, `'30d'`. */
export type Duration = number | string;

type MaybePromise<T> = T | Promise<T>;

/**
 * A MikroORM 6 instance the host already runs (`await MikroORM.init(...)`, on PostgreSQL or
 * mikro-orm-pglite) with the entities and migrations of `sessionOrmOptions()` registered. The host
 * owns its lifecycle. Typed by shape, so that this package's declarations do not depend on
 * MikroORM's (and a host's own copy of MikroORM fits); `create` checks it.
 */
export interface HostOrm {
  readonly config: object;
  readonly em: object;
}

/** Where sessions are stored. */
export type DatabaseOption =
  /** A PostgreSQL connection string, e.g. `postgres://user@host:5432/app`. */
  | string
  /** An ORM the host already runs; register `sessionEntities` in it. The host owns its lifecycle. */
  | HostOrm
  /** Embedded PostgreSQL (PGlite) kept in a directory; without `dataDir`, in memory. */
  | { embedded: { dataDir?: string } };

export interface SessionControllerOptions<TContext = any> {
  /**
   * Where sessions live. Default: embedded PGlite in memory (sessions are lost when the process
   * ends; pass `{ embedded: { dataDir } }` to keep them, or a PostgreSQL URL in production).
   */
  database?: DatabaseOption;
  /**
   * When the database a PostgreSQL URL names does not exist: `false` fails `create` with a
   * `SessionConfigError` naming it (a typo in the URL does not go unnoticed); `true` creates it
   * (through the server's `postgres` database; the URL's user needs `CREATEDB`). Default: `false`.
   */
  createDatabase?: boolean;
  /**
   * On PostgreSQL, run the admission and the key look-up as named prepared statements, parsed
   * and planned once per connection (about 15% more admissions per second). Behind a pooler
   * that cannot carry them (PgBouncer before 1.21 in transaction mode, or without
   * `max_prepared_statements`), the first refusal switches them off for the process, with a
   * warning, and the statement runs again unnamed: `false` skips that first attempt.
   * Default: `true`.
   */
  preparedStatements?: boolean;
  /** Apply pending migrations when the controller is created. Default: `true`. */
  migrate?: boolean;
  /** Turns a request's context into its session identity, or `null` for an anonymous request. Required. */
  identify: (contextValue: TContext) => MaybePromise<Identity | null | undefined>;
  /** App-level cap. `maxSessions`: active sessions in the whole app. Default: `null` (no cap). */
  app?: { maxSessions?: number | null };
  /**
   * User-level cap. `maxSessions`: active sessions per user, default `null` (unlimited).
   * `onLimit`: what happens at the cap, default `'REJECT_NEW'`.
   */
  user?: { maxSessions?: number | null; onLimit?: LimitPolicy };
  /** Per-identity limit; a number (or `null` = unlimited) wins over stored rules and `user.maxSessions`. `undefined` falls through. Default: none. */
  limitFor?: (identity: Identity) => MaybePromise<number | null | undefined>;
  /** Identities that are recorded but never limited nor counted (the seed exempts staff). Default: `identity.exempt === true`. */
  isExempt?: (identity: Identity) => boolean;
  /** Who may see and end every session, and manage limit rules. Default: nobody. */
  isAdmin?: (identity: Identity) => MaybePromise<boolean>;
  /** A session unused this long expires. `null` = never. Default: `'30m'`. Precision: `touchInterval`. */
  idleTimeout?: Duration | null;
  /** A session this old expires however active. `null` = never. Default: `null`. */
  absoluteTimeout?: Duration | null;
  /** A `@uniqueSession` lease unused this long is released. Default: `'5m'`. */
  leaseTtl?: Duration;
  /**
   * Whether exempt identities (`isExempt`) bypass `@uniqueSession` seats: `true` lets them use
   * governed fields without taking or counting a lease. Default: `false`: exemption lifts the
   * app and user caps only, so "one tab per exam" and licence seats hold for staff too.
   */
  exemptFromLeases?: boolean;
  /**
   * A holder's lease confirmed in the store within this interval is served from memory, so a
   * governed field costs no database round trip on most calls. It bounds how long a holder that
   * another instance evicted (`EVICT_OLDEST`) keeps reading. `@uniqueSession(strict: true)` fields
   * read through every time. Default: `'500ms'`.
   */
  leaseRecheckInterval?: Duration;
  /** Whether governed requests fail (`'closed'`) or pass (`'open'`) while the store is unreachable. Default: `'closed'`. */
  failMode?: 'closed' | 'open';
  /** Kill switch: `false` serves the schema untouched and `@uniqueSession` inert. Default: `true`. */
  enabled?: boolean;
  /** Revoked and expired sessions are kept this long for audit, then pruned. Default: `'30d'`. */
  retention?: Duration;
  /**
   * How long a revoked key stays refused after its revocation when `identify` gave no
   * `expiresAt` for it: when the row is pruned (`retention`), a tombstone of the key's digest
   * takes over until then, so a revoked key never comes back as a new session. `null`: for
   * ever (a key with no known expiry may be presented again at any time). With `expiresAt`, the
   * tombstone lasts until that time instead. Default: `null` (for ever; one small row per
   * revoked key, docs/design.md "Tombstones").
   */
  tombstoneTtl?: Duration | null;
  /**
   * Where the change feed's `LISTEN` connection goes, when `database` is a URL. LISTEN needs a
   * connection of its own for its whole life, which a pooler in transaction mode (PgBouncer
   * `pool_mode = transaction`) cannot give: behind one, pass a URL that reaches PostgreSQL
   * directly, or `false` to rely on the poll alone (every `syncInterval`; revocations then reach
   * other instances within `syncInterval` plus one round trip, 500 ms by default).
   * Default: the `database` URL.
   */
  feedDatabase?: string | false;
  /**
   * Hot standbys of `database` (PostgreSQL streaming replicas, as `postgres://` URLs) that answer
   * the listings: the session API's `activeSessions`, `sessions`, `sessionStats` and
   * `sessionLimitRules`, and the CLI's `sessions list`, `stats` and `limits list`. Admissions,
   * revocations, session checks and the change feed always use `database`. A replica answers
   * only once it has replayed every write acknowledged before the listing began (so a caller
   * always sees its own new or revoked sessions); else, or when it is down, the primary answers
   * (docs/operations.md, "Read replicas"). Not for the embedded database. Default: none; with a
   * host MikroORM whose config has `replicas`, those (`[]` turns that off).
   */
  readReplicas?: readonly string[];
  /**
   * How long a listing waits for a replica to replay the primary's latest writes before the
   * primary answers it instead; a replica that missed it is left to the primary for 1 s, then
   * one listing waits for it again. At most `'5s'`. Default: `'250ms'`.
   */
  maxReplicaLag?: Duration;
  /**
   * TLS for every connection the library opens from a URL (`database`, `feedDatabase`; the pool,
   * the LISTEN connection, the command line): `true` (verified against the system's CAs),
   * `false` (none), or node's TLS options, e.g. `{ ca: readFileSync('root.crt') }`. It wins over
   * the URL's `sslmode`/`sslrootcert`/`sslcert`/`sslkey`. Default: what the URL says (libpq's
   * `sslmode`; no TLS when it says nothing).
   */
  ssl?: SslOption;
  /**
   * At most one `lastSeenAt` write per session per this interval, batched. Must be shorter than
   * `idleTimeout`. Default: `'30s'`, or a quarter of `idleTimeout` if that is shorter.
   */
  touchInterval?: Duration;
  /** Sessions whose state is kept in memory per instance (LRU). Default: `10000`. */
  cacheSize?: number;
  /**
   * Bounds on the session API, so that one caller cannot take the store from everyone's logins.
   * `maxCallsPerRequest`: session API fields one request may ask for (aliases count one each);
   * over it the request is refused before any SQL runs (`COST_LIMIT_EXCEEDED`, HTTP 400).
   * Default: `10`. `maxConcurrentQueries`: store queries the API runs at once on this instance;
   * the rest wait their turn, and admissions and request checks keep the other connections of
   * the pool. Default: `3`. `maxConcurrentQueriesPerUser`: of those, how many one user's
   * requests may run at once; waiting users take turns, so one user flooding the API waits
   * behind their own queries, not in front of others'. At most `maxConcurrentQueries`.
   * Default: `1`. `maxTotalCount`: `totalCount` (of `sessions` and `activeSessions`) counts at
   * most this many sessions: exact below it, this number when there are at least as many, so a
   * count costs a bounded amount whatever the history. Default: `10000`.
   */
  api?: {
    maxCallsPerRequest?: number;
    maxConcurrentQueries?: number;
    maxConcurrentQueriesPerUser?: number;
    maxTotalCount?: number;
  };
  /** How often each instance polls for changes it may have missed (the staleness bound). Default: `'500ms'`. */
  syncInterval?: Duration;
  /**
   * How long an instance may serve sessions from memory after its last completed change-feed
   * round trip (a poll of the store). Past it (a stalled link, a frozen database), a session
   * memory knows is checked in the store within 1 s, else handled as `failMode` says: so a
   * revocation made elsewhere is never hidden longer than this. Must be longer than
   * `syncInterval`. Default: `'2s'`, or 4 × `syncInterval` if that is longer.
   */
  maxStaleness?: Duration;
  /** How often the pruning job runs (one instance at a time). Default: `'1h'`. */
  pruneInterval?: Duration;
  /** Called after a session is admitted (also for `LOG_ONLY` admissions over a cap). */
  onAdmit?: (event: AdmitEvent) => unknown;
  /** Called when a cap or a lease refuses a session. */
  onReject?: (event: RejectEvent) => unknown;
  /** Called after sessions are revoked (logout, eviction, API). */
  onRevoke?: (event: RevokeEvent) => unknown;
  /** Called when the store fails; the default logs a warning without secrets. */
  onStoreError?: (event: StoreErrorEvent) => unknown;
  /** Called when `EVICT_OLDEST` on a `@uniqueSession` field takes seats from their holders. */
  onLeaseEvicted?: (event: LeaseEvictEvent) => unknown;
  /**
   * Where the library logs (a failing hook, a failing host function, a store error by default).
   * Default: the logger Apollo Server was given, once the plugin starts; the console before.
   */
  logger?: Logger;
}

/** Options after defaults and validation: durations in milliseconds, `null` = off/unlimited. */
export interface ResolvedOptions<TContext = any> {
  database: DatabaseOption;
  createDatabase: boolean;
  preparedStatements: boolean;
  migrate: boolean;
  identify: (contextValue: TContext) => MaybePromise<Identity | null | undefined>;
  /** `app.maxSessions`. */
  appLimit: Limit;
  /** `user.maxSessions`: the limit when neither `limitFor` nor a stored rule gives one. */
  defaultUserLimit: Limit;
  onLimit: LimitPolicy;
  limitFor: ((identity: Identity) => MaybePromise<number | null | undefined>) | undefined;
  isExempt: (identity: Identity) => boolean;
  isAdmin: (identity: Identity) => MaybePromise<boolean>;
  /** `idleTimeout` and `absoluteTimeout`. */
  timeouts: Timeouts;
  leaseTtlMs: number;
  exemptFromLeases: boolean;
  leaseRecheckIntervalMs: number;
  failMode: 'closed' | 'open';
  enabled: boolean;
  retentionMs: number;
  /** `null`: tombstones of keys without `expiresAt` never expire. */
  tombstoneTtlMs: number | null;
  /** `feedDatabase`: undefined = the database URL, `false` = poll only. */
  feedDatabase: string | false | undefined;
  /** `readReplicas`: undefined = a host MikroORM's `replicas`, if any. */
  readReplicas: readonly string[] | undefined;
  maxReplicaLagMs: number;
  /** `ssl`: undefined = what the URLs say. */
  ssl: SslOption | undefined;
  touchIntervalMs: number;
  cacheSize: number;
  api: {
    maxCallsPerRequest: number;
    maxConcurrentQueries: number;
    maxConcurrentQueriesPerUser: number;
    maxTotalCount: number;
  };
  syncIntervalMs: number;
  maxStalenessMs: number;
  pruneIntervalMs: number;
  onAdmit: (event: AdmitEvent) => unknown;
  onReject: (event: RejectEvent) => unknown;
  onRevoke: (event: RevokeEvent) => unknown;
  /** `undefined`: the default store error handler, which logs through the library's logger. */
  onStoreError: ((event: StoreErrorEvent) => unknown) | undefined;
  onLeaseEvicted: (event: LeaseEvictEvent) => unknown;
  logger: Logger | undefined;
}

const noop = () => {};

function fail(option: string, accepted: string, got: unknown): never {
  const shown = typeof got === 'string' ? JSON.stringify(got) : String(got);
  throw new SessionConfigError(`Invalid option "${option}": expected ${accepted}, got ${shown}.`);
}

function cap(option: string, value: unknown): number | null {
  if (value === undefined || value === null || value === Infinity) return null;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    fail(option, 'a whole number >= 0, null or Infinity (unlimited)', value);
  }
  return value;
}

function parseDuration(option: string, value: unknown, { nullable }: { nullable: boolean }): number | null {
  if (value === null && nullable) return null;
  const accepted = `a duration in milliseconds or a string such as "30s", "30m", "12h"${nullable ? ', or null' : ''}`;
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value <= 0) fail(option, accepted, value);
    return value;
  }
  if (typeof value === 'string') {
    // `ms` throws on an empty string (with a message that names no option) and returns undefined on garbage.
    const parsed = value.trim() === '' ? undefined : (ms(value as ms.StringValue) as number | undefined);
    if (typeof parsed !== 'number' || !Number.isFinite(parsed) || parsed <= 0) fail(option, accepted, value);
    return parsed;
  }
  return fail(option, accepted, value);
}

function fn<T>(option: string, value: unknown, fallback: T): T {
  if (value === undefined) return fallback;
  if (typeof value !== 'function') fail(option, 'a function', typeof value);
  return value as T;
}

function oneOf<T extends string>(option: string, value: unknown, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value as T)) fail(option, `one of ${allowed.map((a) => `"${a}"`).join(', ')}`, value);
  return value as T;
}

function database(value: unknown): DatabaseOption {
  // An empty `DATABASE_URL` (set but blank) means "not set", as for most tools that read one.
  if (value === undefined || (typeof value === 'string' && value.trim() === '')) return { embedded: {} };
  if (typeof value === 'string') {
    if (!/^postgres(ql)?:\/\//.test(value)) fail('database', 'a postgres:// URL', redactUrl(value));
    return readableUrl('database', value);
  }
  if (value && typeof value === 'object') {
    if ('embedded' in value) {
      const dataDir = (value as { embedded?: { dataDir?: unknown } }).embedded?.dataDir;
      if (dataDir !== undefined && (typeof dataDir !== 'string' || dataDir === '')) {
        fail('database.embedded.dataDir', 'a directory path', dataDir);
      }
      return value as DatabaseOption;
    }
    const orm = value as { config?: { get?: unknown }; em?: unknown };
    if (typeof orm.em === 'object' && typeof orm.config?.get === 'function') return value as HostOrm;
  }
  return fail('database', 'a postgres:// URL, a MikroORM instance or { embedded: { dataDir? } }', typeof value);
}

function feedDatabase(value: unknown): string | false | undefined {
  if (value === undefined || value === false) return value;
  if (typeof value === 'string' && /^postgres(ql)?:\/\//.test(value)) return readableUrl('feedDatabase', value);
  return fail('feedDatabase', 'a postgres:// URL or false', typeof value === 'string' ? redactUrl(value) : value);
}

/** A listing's wait for a replica: up to 5 s, well inside the statement timeout of the wait itself. */
function maxReplicaLag(value: unknown): number {
  const lagMs = parseDuration('maxReplicaLag', defaulted(value, OPTION_DEFAULTS.maxReplicaLag), { nullable: false })!;
  if (lagMs > 5_000) fail('maxReplicaLag', 'a duration of at most 5s', value);
  return lagMs;
}

/** Replica URLs; none for the embedded database, which has no replicas to give. */
function readReplicas(value: unknown, databaseValue: unknown): readonly string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) fail('readReplicas', 'an array of postgres:// URLs', typeof value);
  for (const url of value) {
    if (typeof url !== 'string' || !/^postgres(ql)?:\/\//.test(url)) {
      fail('readReplicas', 'an array of postgres:// URLs', typeof url === 'string' ? redactUrl(url) : url);
    }
    readableUrl('readReplicas', url);
  }
  const embedded =
    databaseValue === undefined ||
    (typeof databaseValue === 'string' && databaseValue.trim() === '') ||
    (typeof databaseValue === 'object' && databaseValue !== null && 'embedded' in databaseValue);
  if (embedded && value.length) {
    throw new SessionConfigError(
      'Invalid option "readReplicas": the embedded database has no replicas; give "database" a PostgreSQL URL (or leave "readReplicas" out).',
    );
  }
  return value as string[];
}

/** A URL whose hosts and parameters can be read (and the certificate files it names, too). */
function readableUrl(option: string, url: string): string {
  try {
    connectionConfig(url);
  } catch (error) {
    if (!(error instanceof ConnectionUrlError)) throw error;
    throw new SessionConfigError(`Invalid option "${option}": ${error.message}`);
  }
  return url;
}

function ssl(value: unknown): SslOption | undefined {
  if (value === undefined || typeof value === 'boolean') return value;
  if (value && typeof value === 'object' && !Array.isArray(value)) return value as SslOption;
  return fail('ssl', "true, false or node's TLS options ({ ca, cert, key, rejectUnauthorized, ... })", value);
}

function redactUrl(value: string): string {
  // Any form (URL, libpq key=value, JDBC): a string given where a URL belongs may be either.
  return redactConnectionString(value);
}

/** Applies every default and validates every option once, so a mistake surfaces at start-up. */
export function resolveOptions<TContext>(options: SessionControllerOptions<TContext>): ResolvedOptions<TContext> {
  if (!options || typeof options !== 'object') fail('options', 'an object', options);
  if (typeof options.identify !== 'function') {
    fail('identify', 'a function (contextValue) => Identity | null', options.identify);
  }
  // `app: 100` instead of `app: { maxSessions: 100 }` would otherwise mean "no cap" without a word.
  for (const group of ['app', 'user', 'api'] as const) {
    const value: unknown = options[group];
    if (value !== undefined && (value === null || typeof value !== 'object' || Array.isArray(value))) {
      const shapes = {
        app: 'an object { maxSessions? }',
        user: 'an object { maxSessions?, onLimit? }',
        api: 'an object { maxCallsPerRequest?, maxConcurrentQueries?, maxConcurrentQueriesPerUser?, maxTotalCount? }',
      };
      fail(group, shapes[group], value);
    }
  }
  const cacheSize = options.cacheSize ?? OPTION_DEFAULTS.cacheSize;
  if (!Number.isInteger(cacheSize) || cacheSize < 1) fail('cacheSize', 'a whole number >= 1', cacheSize);
  const syncIntervalMs = parseDuration('syncInterval', defaulted(options.syncInterval, OPTION_DEFAULTS.syncInterval), {
    nullable: false,
  })!;
  const idleTimeoutMs = parseDuration('idleTimeout', defaulted(options.idleTimeout, OPTION_DEFAULTS.idleTimeout), {
    nullable: true,
  });
  return {
    database: database(options.database),
    createDatabase: booleanOption('createDatabase', defaulted(options.createDatabase, OPTION_DEFAULTS.createDatabase)),
    preparedStatements: booleanOption(
      'preparedStatements',
      defaulted(options.preparedStatements, OPTION_DEFAULTS.preparedStatements),
    ),
    migrate: booleanOption('migrate', defaulted(options.migrate, OPTION_DEFAULTS.migrate)),
    identify: options.identify,
    appLimit: cap('app.maxSessions', defaulted(options.app?.maxSessions, OPTION_DEFAULTS.app.maxSessions)),
    defaultUserLimit: cap('user.maxSessions', defaulted(options.user?.maxSessions, OPTION_DEFAULTS.user.maxSessions)),
    onLimit: oneOf('user.onLimit', options.user?.onLimit, LIMIT_POLICIES, OPTION_DEFAULTS.user.onLimit),
    limitFor: fn('limitFor', options.limitFor, undefined),
    isExempt: fn('isExempt', options.isExempt, (identity: Identity) => identity.exempt === true),
    isAdmin: fn('isAdmin', options.isAdmin, () => false),
    timeouts: {
      idleTimeoutMs,
      absoluteTimeoutMs: parseDuration(
        'absoluteTimeout',
        defaulted(options.absoluteTimeout, OPTION_DEFAULTS.absoluteTimeout),
        { nullable: true },
      ),
    },
    leaseTtlMs: parseDuration('leaseTtl', defaulted(options.leaseTtl, OPTION_DEFAULTS.leaseTtl), { nullable: false })!,
    exemptFromLeases: booleanOption(
      'exemptFromLeases',
      defaulted(options.exemptFromLeases, OPTION_DEFAULTS.exemptFromLeases),
    ),
    leaseRecheckIntervalMs: parseDuration(
      'leaseRecheckInterval',
      defaulted(options.leaseRecheckInterval, OPTION_DEFAULTS.leaseRecheckInterval),
      { nullable: false },
    )!,
    failMode: oneOf('failMode', options.failMode, ['closed', 'open'] as const, OPTION_DEFAULTS.failMode),
    enabled: booleanOption('enabled', defaulted(options.enabled, OPTION_DEFAULTS.enabled)),
    retentionMs: parseDuration('retention', defaulted(options.retention, OPTION_DEFAULTS.retention), {
      nullable: false,
    })!,
    tombstoneTtlMs: parseDuration('tombstoneTtl', defaulted(options.tombstoneTtl, OPTION_DEFAULTS.tombstoneTtl), {
      nullable: true,
    }),
    feedDatabase: feedDatabase(options.feedDatabase),
    readReplicas: readReplicas(options.readReplicas, options.database),
    maxReplicaLagMs: maxReplicaLag(options.maxReplicaLag),
    ssl: ssl(options.ssl),
    touchIntervalMs: touchInterval(options.touchInterval, idleTimeoutMs),
    cacheSize,
    api: apiBounds(options.api),
    syncIntervalMs,
    maxStalenessMs: maxStaleness(options.maxStaleness, syncIntervalMs),
    pruneIntervalMs: parseDuration('pruneInterval', defaulted(options.pruneInterval, OPTION_DEFAULTS.pruneInterval), {
      nullable: false,
    })!,
    onAdmit: fn('onAdmit', options.onAdmit, noop),
    onReject: fn('onReject', options.onReject, noop),
    onRevoke: fn('onRevoke', options.onRevoke, noop),
    onStoreError: fn('onStoreError', options.onStoreError, undefined),
    onLeaseEvicted: fn('onLeaseEvicted', options.onLeaseEvicted, noop),
    logger: logger(options.logger),
  };
}

/**
 * A used session's `lastSeenAt` moves only once per `touchInterval`: an interval as long as
 * `idleTimeout` would expire sessions while they are in use (e.g. `idleTimeout: '10s'` with the
 * 30 s default). So the default shrinks with a short idle timeout, and a longer one is refused.
 */
function touchInterval(value: unknown, idleTimeoutMs: number | null): number {
  if (value === undefined) return defaultTouchIntervalMs(idleTimeoutMs);
  const intervalMs = parseDuration('touchInterval', value, { nullable: false })!;
  if (idleTimeoutMs !== null && intervalMs >= idleTimeoutMs) {
    fail('touchInterval', `a duration shorter than idleTimeout (${idleTimeoutMs} ms)`, value);
  }
  return intervalMs;
}

/** A bound that a poll every `syncInterval` can keep: longer than the interval. */
function maxStaleness(value: unknown, syncIntervalMs: number): number {
  if (value === undefined) return defaultMaxStalenessMs(syncIntervalMs);
  const staleMs = parseDuration('maxStaleness', value, { nullable: false })!;
  if (staleMs <= syncIntervalMs)
    fail('maxStaleness', `a duration longer than syncInterval (${syncIntervalMs} ms)`, value);
  return staleMs;
}

/** Only an omitted option takes the default: `null` where "never" is not accepted is a mistake to report. */
function defaulted(value: unknown, fallback: unknown): unknown {
  return value === undefined ? fallback : value;
}

/** The `api` option (docs/contract.md §15, "Fair listings"): a user's share never exceeds the whole. */
function apiBounds(api: SessionControllerOptions<unknown>['api']): ResolvedOptions<unknown>['api'] {
  const maxConcurrentQueries = wholeNumber(
    'api.maxConcurrentQueries',
    api?.maxConcurrentQueries,
    OPTION_DEFAULTS.api.maxConcurrentQueries,
  );
  const maxConcurrentQueriesPerUser = wholeNumber(
    'api.maxConcurrentQueriesPerUser',
    api?.maxConcurrentQueriesPerUser,
    OPTION_DEFAULTS.api.maxConcurrentQueriesPerUser,
  );
  if (maxConcurrentQueriesPerUser > maxConcurrentQueries) {
    fail(
      'api.maxConcurrentQueriesPerUser',
      `a whole number from 1 to api.maxConcurrentQueries (${maxConcurrentQueries})`,
      maxConcurrentQueriesPerUser,
    );
  }
  return {
    maxCallsPerRequest: wholeNumber(
      'api.maxCallsPerRequest',
      api?.maxCallsPerRequest,
      OPTION_DEFAULTS.api.maxCallsPerRequest,
    ),
    maxConcurrentQueries,
    maxConcurrentQueriesPerUser,
    maxTotalCount: wholeNumber('api.maxTotalCount', api?.maxTotalCount, OPTION_DEFAULTS.api.maxTotalCount),
  };
}

function wholeNumber(option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) fail(option, 'a whole number >= 1', value);
  return value;
}

function logger(value: unknown): Logger | undefined {
  if (value === undefined) return undefined;
  const candidate = value as Partial<Logger> | null;
  if (typeof candidate?.warn !== 'function' || typeof candidate.error !== 'function') {
    fail('logger', "an object with warn() and error() methods (e.g. Apollo Server's logger)", typeof value);
  }
  return value as Logger;
}

function booleanOption(option: string, value: unknown): boolean {
  if (typeof value !== 'boolean') fail(option, 'true or false', value);
  return value;
}
