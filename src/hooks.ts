import type { PublicIdentity } from './identity.js';
import { type Log, messageOf } from './logger.js';
import type { LimitLevel, RevokeReason, SessionInfo, SessionLimitLevel } from './vocabulary.js';

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
}

export interface StoreErrorEvent {
  operation: string;
  error: Error;
}

/** The host's observers, as the options give them (every one defaulted). */
export interface SessionHooks {
  onAdmit(event: AdmitEvent): unknown;
  onReject(event: RejectEvent): unknown;
  onRevoke(event: RevokeEvent): unknown;
  /** `undefined`: log a warning (operation and message, never a secret). */
  onStoreError: ((event: StoreErrorEvent) => unknown) | undefined;
}

/**
 * Calls the host's hooks. Hooks observe: one that throws, or returns a promise that rejects, must
 * not fail the request (or field) it observes, nor crash the process with an unhandled rejection.
 */
export class HookRunner {
  constructor(
    private readonly hooks: SessionHooks,
    private readonly log: Log,
  ) {}

  admitted(event: AdmitEvent): void {
    this.call('onAdmit', () => this.hooks.onAdmit(event));
  }

  rejected(event: RejectEvent): void {
    this.call('onReject', () => this.hooks.onReject(event));
  }

  revoked(event: RevokeEvent): void {
    this.call('onRevoke', () => this.hooks.onRevoke(event));
  }

  storeFailed(operation: string, error: Error): void {
    const hook = this.hooks.onStoreError;
    if (!hook) {
      this.log.warn(`store error during ${operation}: ${error.message}`);
      return;
    }
    this.call('onStoreError', () => hook({ operation, error }));
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
