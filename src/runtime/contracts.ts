/**
 * The seams of the library: what the adapters (the Apollo plugin, the `@uniqueSession`
 * directive, the session API, and the WebSocket, CLI and metrics adapters) may see of it. Each
 * adapter depends on these interfaces only, never on the controller that assembles them
 * (docs/design.md, "Module map").
 */
import type { RuntimeObserver } from '../hooks.js';
import type { Identity } from '../identity.js';
import type { UniqueSessionConfig } from '../policy/lease.js';
import type { LeaseHolding } from '../store/lease-table.js';
import type { LimitRuleTable } from '../store/limit-rule-table.js';
import type { StoredSession } from '../store/rows.js';
import type { SessionReads } from '../store/session-reads.js';
import type { Limit, RevokeOptions, RevokeReason, SessionInfo, Timeouts } from '../vocabulary.js';
import type { PruneProgress, PruneResult } from './pruner.js';

/** What the library learned about one request (or connection) before it runs. */
export interface Governed {
  identity: Identity | null;
  /** `null` for an anonymous request, or when the store was unreachable and `failMode: 'open'` let it through. */
  session: StoredSession | null;
}

/** Sessions: look-up, admission, revocation, the fail-mode guard, the database clock. */
export interface SessionRuntime {
  readonly timeouts: Timeouts;
  /** The caps in force: `app.maxSessions` and `user.maxSessions`, or none behind the kill switch. */
  readonly limits: { appLimit: Limit; defaultUserLimit: Limit };
  /** The host's `identify`, checked: a malformed identity is refused here. */
  identify(contextValue: unknown): Identity | null | Promise<Identity | null>;
  /** Governs one request. Settled without a promise when memory can answer (the hot path). */
  govern(contextValue: unknown): Governed | Promise<Governed>;
  /** Explicit admission (a login): the same path as a first request with an unknown key. */
  openSession(identity: Identity): Promise<SessionInfo>;
  revoke(
    sessionId: string,
    reason: RevokeReason,
    note: string | null,
    options?: RevokeOptions,
  ): Promise<SessionInfo | null>;
  revokeUser(
    userId: string,
    reason: RevokeReason,
    note: string | null,
    exceptSessionId?: string,
    options?: RevokeOptions,
  ): Promise<SessionInfo[]>;
  revokeUsers(
    userIds: readonly string[],
    reason: RevokeReason,
    note: string | null,
    options?: RevokeOptions,
  ): Promise<SessionInfo[]>;
  isAdmin(identity: Identity): Promise<boolean>;
  /**
   * Runs a store operation under `failMode`: a database failure becomes
   * `SESSION_STORE_UNAVAILABLE` (closed) or the fallback (open); a refusal passes through.
   */
  guard<T>(operation: string, run: () => Promise<T>, openFallback?: () => T): Promise<T>;
  /** Milliseconds on the database clock. */
  dbNow(): number;
}

/** `@uniqueSession` seats: acquisition, with the holder's memory in front of the store. */
export interface LeaseRuntime {
  /** Resolves when the session holds a seat on `field`; rejects with the field's error. */
  acquire(field: string, config: UniqueSessionConfig, identity: Identity, session: StoredSession): Promise<void>;
  /** Gives the seat up (a subscription that holds it completed). */
  release(field: string, config: UniqueSessionConfig, session: StoredSession): Promise<void>;
}

/** What the session API reads and writes besides revocations. */
export type SessionDirectory = Pick<
  SessionReads,
  'listActive' | 'list' | 'count' | 'find' | 'ownerOfKey' | 'countActive' | 'statusCounts' | 'hasUser'
>;
export type LimitRules = Pick<LimitRuleTable, 'list' | 'set' | 'remove'>;

/** `@uniqueSession` seats as operators see and end them (docs/contract.md §9, "Seats"). */
export interface LeaseDirectory {
  /** Every live lease on a field, in every scope, with its session; most recently used first. */
  holdings(field: string): Promise<LeaseHolding[]>;
  /** Ends a session's lease on a field; whether it held a live one. */
  endLease(field: string, sessionId: string): Promise<boolean>;
}

/**
 * What the metrics adapter reads (docs/contract.md §9, "Metrics"): the runtimes' reports, and two
 * numbers. Nothing here exposes a session, an identity or a key.
 */
export interface RuntimeMonitor {
  /** Adds an observer of admissions, revocations, lease refusals and store errors; returns its removal. */
  observe(observer: RuntimeObserver): () => void;
  /** Sessions this instance keeps in memory. */
  cachedSessions(): number;
  /** Active sessions in the whole app, read from the store (the caller bounds how often). */
  activeSessions(): Promise<number>;
}

/**
 * What the operator's command line uses (docs/contract.md §9, "CLI"): the store's reads, the
 * limit rules, the runtime's revocations (which reach every running instance like any other),
 * and the maintenance jobs.
 */
export interface Operations {
  readonly sessions: Pick<SessionRuntime, 'revoke' | 'revokeUser' | 'revokeUsers' | 'timeouts' | 'dbNow'>;
  readonly directory: SessionDirectory;
  readonly rules: LimitRules;
  migrate(): Promise<string[]>;
  /** Deletes what `retention` lets go, batch by batch; `onBatch` hears the running totals and whether more follow. */
  prune(onBatch?: (progress: PruneProgress) => void): Promise<PruneResult>;
  /** What `prune` would delete now, without deleting anything. */
  prunable(): Promise<{ sessions: number; leases: number }>;
  close(): Promise<void>;
}
