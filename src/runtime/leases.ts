/**
 * `@uniqueSession` seats at run time: the holder's memory in front of the lease store, under the
 * fail-mode guard, with the hooks.
 */
import { GraphQLError } from 'graphql';
import { SessionErrorCode, sessionLimitExceeded } from '../errors.js';
import type { HookRunner } from '../hooks.js';
import { type Identity, publicIdentity } from '../identity.js';
import { leaseScopeKey, type UniqueSessionConfig } from '../policy/lease.js';
import type { LeaseHolding, LeaseInfo, LeaseKey, LeaseTable } from '../store/lease-table.js';
import type { StoredSession } from '../store/rows.js';
import type { LeaseDirectory, LeaseRuntime, SessionRuntime } from './contracts.js';
import { LeaseMemory } from './lease-memory.js';

export interface LeaseSettings {
  cacheSize: number;
  leaseRecheckIntervalMs: number;
  /** Whether exempt sessions use governed fields without taking a seat. */
  exemptFromLeases: boolean;
}

/**
 * `@uniqueSession` seats at run time (docs/contract.md rule 6): the holder's memory in front of
 * the lease store, the fail-mode guard, and the hooks. The directive only asks `acquire`.
 */
export class Leases implements LeaseRuntime, LeaseDirectory {
  /** Leases this instance confirmed recently: the holder's fast path (see `leaseRecheckInterval`). */
  private readonly memory: LeaseMemory;

  constructor(
    private readonly settings: LeaseSettings,
    readonly table: LeaseTable,
    private readonly sessions: Pick<SessionRuntime, 'guard'>,
    private readonly hooks: HookRunner,
  ) {
    this.memory = new LeaseMemory(settings.cacheSize, settings.leaseRecheckIntervalMs);
  }

  async acquire(field: string, config: UniqueSessionConfig, identity: Identity, session: StoredSession): Promise<void> {
    if (session.exempt && this.settings.exemptFromLeases) return;
    const scopeKey = leaseScopeKey(config.scope, session.userId);
    if (!config.strict && this.memory.isConfirmed(field, scopeKey, session.id)) return;
    let result: Awaited<ReturnType<LeaseTable['acquire']>> | null;
    try {
      result = await this.sessions.guard(
        'lease',
        () => this.table.acquire({ field, scopeKey, sessionId: session.id, max: config.max, policy: config.onLimit }),
        () => null,
      );
    } catch (error) {
      throw asFieldError(error);
    }
    if (result === null) return;
    if (result.kind !== 'REJECTED') this.memory.confirm(field, scopeKey, session.id);
    if (result.kind === 'GRANTED') this.memory.forget(field, scopeKey, result.evicted);
    if (result.kind === 'HELD') return;
    const event = { identity: publicIdentity(identity), level: 'VIEW' as const, limit: config.max, field };
    if (result.kind === 'REJECTED') {
      this.hooks.rejected(event);
      throw sessionLimitExceeded('VIEW', config.max, field);
    }
    if (result.overLimit) this.hooks.rejected({ ...event, allowed: true });
    if (result.evicted.length) {
      this.hooks.leaseEvicted({
        field,
        scope: config.scope,
        evicted: result.evicted,
        sessionId: session.id,
        identity: event.identity,
      });
    }
  }

  /** Gives up the session's seat on `field` (a subscription that completed), here and in the store. */
  async release(field: string, config: UniqueSessionConfig, session: StoredSession): Promise<void> {
    const scopeKey = leaseScopeKey(config.scope, session.userId);
    this.memory.forget(field, scopeKey, [session.id]);
    await this.sessions.guard(
      'lease',
      () => this.table.release(field, scopeKey, session.id),
      () => false,
    );
  }

  /**
   * Keeps the seats of live subscriptions alive, in one statement; returns those still held.
   * Rejects with `SESSION_STORE_UNAVAILABLE` if the store does not answer: an outage is not a
   * lost seat.
   */
  renew(leases: readonly LeaseKey[]): Promise<LeaseKey[]> {
    return this.sessions.guard('lease', () => this.table.renew(leases));
  }

  /** The live leases on a field in one scope (`leaseScopeKey`), most recently used first. */
  holders(field: string, scopeKey: string): Promise<LeaseInfo[]> {
    return this.table.holders(field, scopeKey);
  }

  /** Every live lease on a field, in every scope, with its session; most recently used first. */
  holdings(field: string): Promise<LeaseHolding[]> {
    return this.sessions.guard('lease', () => this.table.holdings(field));
  }

  /**
   * Ends a session's lease on a field: its seat is free for the next newcomer at once, on every
   * instance (they count seats in the store). This instance forgets the holder at once too; on
   * another instance that served it from memory it may read on for one `leaseRecheckInterval`,
   * as after an `EVICT_OLDEST` there. Returns whether the session held a live lease.
   */
  async endLease(field: string, sessionId: string): Promise<boolean> {
    const scopes = await this.sessions.guard('lease', () => this.table.endLeases(field, sessionId));
    for (const scopeKey of scopes) this.memory.forget(field, scopeKey, [sessionId]);
    return scopes.length > 0;
  }
}

/**
 * A store outage on one field is a field error like a refusal: the rest of the operation keeps
 * its data and its 200, instead of the request-level 503 the error carries for the plugin.
 */
function asFieldError(error: unknown): unknown {
  if (!(error instanceof GraphQLError) || error.extensions.code !== SessionErrorCode.SESSION_STORE_UNAVAILABLE) {
    return error;
  }
  const { http: _status, ...extensions } = error.extensions;
  return new GraphQLError(error.message, { extensions });
}
