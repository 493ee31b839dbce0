/**
 * The seams of the library: what the adapters (the Apollo plugin, the `@uniqueSession`
 * directive, the session API, and the WebSocket, CLI and metrics adapters) may see of it. Each
 * adapter depends on these interfaces only, never on the controller that assembles them
 * (docs/design.md, "Module map").
 */
import type { UniqueSessionConfig } from '../directive/config.js';
import type { Identity } from '../identity.js';
import type { LimitRuleStore } from '../store/limit-rule-store.js';
import type { StoredSession } from '../store/rows.js';
import type { SessionQueries } from '../store/session-queries.js';
import type { Limit, RevokeReason, SessionInfo, Timeouts } from '../vocabulary.js';

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
  revoke(sessionId: string, reason: RevokeReason, note: string | null): Promise<SessionInfo | null>;
  revokeUser(userId: string, reason: RevokeReason, note: string | null, exceptSessionId?: string): Promise<SessionInfo[]>;
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
export type SessionDirectory = Pick<SessionQueries, 'listActive' | 'find' | 'ownerOfKey' | 'countActive'>;
export type LimitRules = Pick<LimitRuleStore, 'list' | 'set' | 'remove'>;
