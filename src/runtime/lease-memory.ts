/** Leases this instance confirmed recently: a holder using its field again costs no store call. */
import { LRUCache } from 'lru-cache';

/**
 * Which leases this instance confirmed in the store within the last `leaseRecheckInterval`, so a
 * holder using its field again is served from memory. What it can miss — another instance taking
 * the seat with `EVICT_OLDEST` — lasts at most one interval; `strict` fields never consult it.
 * Bounded (LRU) like the session cache.
 */
export class LeaseMemory {
  private readonly confirmed: LRUCache<string, true>;

  constructor(maxEntries: number, recheckIntervalMs: number) {
    this.confirmed = new LRUCache({ max: maxEntries, ttl: recheckIntervalMs, ttlAutopurge: false });
  }

  private static key(field: string, scopeKey: string, sessionId: string): string {
    return `${field}\u0000${scopeKey}\u0000${sessionId}`;
  }

  isConfirmed(field: string, scopeKey: string, sessionId: string): boolean {
    return this.confirmed.has(LeaseMemory.key(field, scopeKey, sessionId));
  }

  confirm(field: string, scopeKey: string, sessionId: string): void {
    this.confirmed.set(LeaseMemory.key(field, scopeKey, sessionId), true);
  }

  /** Holders that lost their seat to this instance's caller lose it here at once. */
  forget(field: string, scopeKey: string, sessionIds: readonly string[]): void {
    for (const id of sessionIds) this.confirmed.delete(LeaseMemory.key(field, scopeKey, id));
  }

  get size(): number {
    return this.confirmed.size;
  }
}
