/**
 * The host's hooks (`onAdmit`, `onRevoke`, ...), run so that a failing hook never fails a request,
 * and told to the library's own observers (metrics) too.
 */
import type { PublicIdentity } from './identity.js';
import { type Log, messageOf } from './logger.js';
import { StoreOutageLog } from './outage-log.js';
import type { LimitLevel, RevokeReason, SessionInfo, SessionLimitLevel, SessionScope } from './vocabulary.js';

export interface AdmitEvent {
  session: SessionInfo;
  identity: PublicIdentity;
  /** Sessions revoked to make room (`EVICT_OLDEST`). */
  evicted: SessionInfo[];
  /** Set when `LOG_ONLY` admitted a session over a cap. */
  overLimit?: { level: SessionLimitLevel; limit: number };
}

export interface RejectEvent {
  identity: PublicIdentity;
  level: LimitLevel;
  limit: number;
  /** `Type.field` for a refused `@uniqueSession` lease. */
  field?: string;
  /** For leases: `LOG_ONLY` let the caller through anyway. */
  allowed?: boolean;
}

export interface RevokeEvent {
  sessions: SessionInfo[];
  reason: RevokeReason;
  note: string | null;
  /** The user id of the caller that revoked them; `null` for evictions and code without a caller. */
  revokedBy: string | null;
}

export interface StoreErrorEvent {
  operation: string;
  error: Error;
}

/** `EVICT_OLDEST` on a `@uniqueSession` field gave the seats of `evicted` to the caller. */
export interface LeaseEvictEvent {
  /** The governed field, `Type.field`. */
  field: string;
  scope: SessionScope;
  /** The ids of the sessions that lost their seat. */
  evicted: string[];
  /** The session that took the seat, and who it is. */
  sessionId: string;
  identity: PublicIdentity;
}

/** The host's observers, as the options give them (every one defaulted). */
export interface SessionHooks {
  onAdmit(event: AdmitEvent): unknown;
  onReject(event: RejectEvent): unknown;
  onRevoke(event: RevokeEvent): unknown;
  /** `undefined`: log a warning (operation and message, never a secret). */
  onStoreError: ((event: StoreErrorEvent) => unknown) | undefined;
  onLeaseEvicted(event: LeaseEvictEvent): unknown;
}

/** How an admission ended, as metrics count it (docs/contract.md §9, `gsc_admissions_total`). */
export type AdmissionOutcome = 'admitted' | 'rejected' | 'evicted' | 'logged';

/**
 * What the runtimes report as they work, for the library's own adapters (metrics): counts and
 * timings, never a session or an identity. Every member is optional; an observer that throws is
 * ignored like a failing hook.
 */
export interface RuntimeObserver {
  /** An admission decided: `level` is the cap that refused, evicted or was logged; `null` when none did. */
  admission?(outcome: AdmissionOutcome, level: SessionLimitLevel | null, seconds: number): void;
  /** Sessions revoked on this instance. */
  revocation?(reason: RevokeReason, sessions: number): void;
  /** A `@uniqueSession` seat refused (`REJECT_NEW` at the limit). */
  leaseRefused?(field: string): void;
  /** A store operation failed (what `onStoreError` reports). */
  storeError?(operation: string): void;
}

/**
 * Calls the host's hooks. Hooks observe: one that throws, or returns a promise that rejects, must
 * not fail the request (or field) it observes, nor crash the process with an unhandled rejection.
 */
export class HookRunner {
  /** The library's own observers (metrics), told what the hooks are told, and admission timings. */
  private readonly observers = new Set<RuntimeObserver>();
  private readonly outage: StoreOutageLog;

  constructor(
    private readonly hooks: SessionHooks,
    private readonly log: Log,
  ) {
    this.outage = new StoreOutageLog(log);
  }

  /** Adds an observer; the returned function removes it. */
  observe(observer: RuntimeObserver): () => void {
    this.observers.add(observer);
    return () => {
      this.observers.delete(observer);
    };
  }

  admitted(event: AdmitEvent): void {
    this.call('onAdmit', () => this.hooks.onAdmit(event));
  }

  rejected(event: RejectEvent): void {
    this.call('onReject', () => this.hooks.onReject(event));
    const field = event.field;
    if (field !== undefined && !event.allowed) this.notify((o) => o.leaseRefused?.(field));
  }

  revoked(event: RevokeEvent): void {
    this.call('onRevoke', () => this.hooks.onRevoke(event));
    this.notify((o) => o.revocation?.(event.reason, event.sessions.length));
  }

  storeFailed(operation: string, error: Error): void {
    this.notify((o) => o.storeError?.(operation));
    const hook = this.hooks.onStoreError;
    if (!hook) {
      // One line when an outage starts, one a minute while it lasts, one when it ends.
      this.outage.failed(operation, error);
      return;
    }
    this.call('onStoreError', () => hook({ operation, error }));
  }

  /** A store call succeeded (a change-feed poll, a request's look-up): ends a logged outage. */
  storeAnswered(): void {
    if (this.outage.ongoing) this.outage.answered();
  }

  leaseEvicted(event: LeaseEvictEvent): void {
    this.call('onLeaseEvicted', () => this.hooks.onLeaseEvicted(event));
  }

  /** An admission decided, and how long its store work took: for observers only. */
  admission(outcome: AdmissionOutcome, level: SessionLimitLevel | null, seconds: number): void {
    this.notify((o) => o.admission?.(outcome, level, seconds));
  }

  private notify(tell: (observer: RuntimeObserver) => void): void {
    for (const observer of this.observers) {
      try {
        tell(observer);
      } catch (error) {
        this.failed('observer', error);
      }
    }
  }

  private call(name: string, run: () => unknown): void {
    try {
      const result = run();
      if (isThenable(result)) result.then(undefined, (error: unknown) => this.failed(name, error));
    } catch (error) {
      this.failed(name, error);
    }
  }

  private failed(name: string, error: unknown): void {
    this.log.error(`the ${name} hook failed: ${messageOf(error)}`);
  }
}

export function isThenable<T>(value: unknown): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}
