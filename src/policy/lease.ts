/**
 * Who gets a `@uniqueSession` lease at a field's seat limit (docs/contract.md rule 6). Plain code
 * with no Apollo or database imports, so it reads like the contract and is tested alone; the
 * lease store applies it inside its transaction.
 */
import type { LimitPolicy, SessionScope } from '../vocabulary.js';

/** The arguments of `@uniqueSession` / `@UniqueSession()`; every one is optional. */
export interface UniqueSessionOptions {
  /** How many sessions may hold the field at once. A whole number >= 1. Default: `1`. */
  max?: number;
  /** `USER`: the limit is per user; `APP`: across the whole app. Default: `'USER'`. */
  scope?: SessionScope;
  /** What happens at the limit. Default: `'REJECT_NEW'`. */
  onLimit?: LimitPolicy;
  /**
   * Read through to the store on every use, for fields that need zero staleness. Default:
   * `false`: a holder confirmed within `leaseRecheckInterval` is served from memory.
   */
  strict?: boolean;
}

/** The arguments after defaults and validation. */
export type UniqueSessionConfig = Required<UniqueSessionOptions>;

/** Which leases are counted together: the user's for `USER`, everyone's (`*`) for `APP`. */
export function leaseScopeKey(scope: SessionScope, userId: string): string {
  return scope === 'APP' ? '*' : userId;
}

/** A live lease held by another session. */
export interface LeaseHolder {
  sessionId: string;
  lastUsedAt: Date;
}

export interface LeaseInput {
  max: number;
  policy: LimitPolicy;
  /** Live leases of the other sessions in the scope, least recently used first. */
  holders: readonly LeaseHolder[];
}

export type LeaseDecision =
  /** Take the lease; `evict` are the holders that lose theirs; `overLimit`: `LOG_ONLY` let it through. */
  { outcome: 'GRANT'; evict: string[]; overLimit: boolean } | { outcome: 'REJECT' };

/**
 * For a caller that holds no live lease (a holder always keeps its own). Below the limit it gets
 * one; at the limit `REJECT_NEW` refuses, `EVICT_OLDEST` takes the seats of the least recently
 * used holders, `LOG_ONLY` grants and reports.
 */
export function decideLease(input: LeaseInput): LeaseDecision {
  if (input.holders.length < input.max) return { outcome: 'GRANT', evict: [], overLimit: false };
  switch (input.policy) {
    case 'REJECT_NEW':
      return { outcome: 'REJECT' };
    case 'EVICT_OLDEST':
      // More holders than max can exist (max lowered, LOG_ONLY earlier): free enough for the caller.
      return {
        outcome: 'GRANT',
        evict: input.holders.slice(0, input.holders.length - input.max + 1).map((h) => h.sessionId),
        overLimit: false,
      };
    case 'LOG_ONLY':
      return { outcome: 'GRANT', evict: [], overLimit: true };
  }
}
