/**
 * Every option default that is a value, written once: option resolution (options.ts) applies
 * them, the command line's help prints them, and test/option-defaults.test.ts holds the option
 * tables of docs/options.md and docs/contract.md to them. Durations are written as a user writes
 * them; `null` means off, never or unlimited, as the option says.
 *
 * Two defaults follow another option, by the rules below: `touchInterval` and `maxStaleness`.
 * Options whose default is a behaviour, not a value (`database`: embedded PGlite in memory;
 * `isExempt`: `identity.exempt === true`; the hooks: no-ops; ...), are applied where options.ts
 * resolves them and described in words in the tables.
 */
import ms from 'ms';

export const OPTION_DEFAULTS = {
  createDatabase: false,
  preparedStatements: true,
  migrate: true,
  app: { maxSessions: null },
  user: { maxSessions: null, onLimit: 'REJECT_NEW' },
  idleTimeout: '30m',
  absoluteTimeout: null,
  leaseTtl: '5m',
  exemptFromLeases: false,
  leaseRecheckInterval: '500ms',
  failMode: 'closed',
  enabled: true,
  retention: '30d',
  tombstoneTtl: null,
  maxReplicaLag: '250ms',
  /** The longest default: a quarter of `idleTimeout` when that is shorter (`defaultTouchIntervalMs`). */
  touchInterval: '30s',
  cacheSize: 10_000,
  api: { maxCallsPerRequest: 10, maxConcurrentQueries: 3, maxConcurrentQueriesPerUser: 1, maxTotalCount: 10_000 },
  syncInterval: '500ms',
  /** The shortest default: 4 × `syncInterval` when that is longer (`defaultMaxStalenessMs`). */
  maxStaleness: '2s',
  pruneInterval: '1h',
} as const;

/**
 * `touchInterval` when not given: `'30s'`, or a quarter of `idleTimeout` when that is shorter (at
 * least 1 ms), since `lastSeenAt` moves once per interval and an interval as long as the idle
 * timeout would expire sessions in use.
 */
export function defaultTouchIntervalMs(idleTimeoutMs: number | null): number {
  const longest = ms(OPTION_DEFAULTS.touchInterval);
  return idleTimeoutMs === null ? longest : Math.min(longest, Math.max(1, Math.floor(idleTimeoutMs / 4)));
}

/**
 * `maxStaleness` when not given: `'2s'`, or 4 × `syncInterval` when that is longer, since the
 * bound must be longer than the interval, with room for a slow or missed poll.
 */
export function defaultMaxStalenessMs(syncIntervalMs: number): number {
  return Math.max(ms(OPTION_DEFAULTS.maxStaleness), 4 * syncIntervalMs);
}
