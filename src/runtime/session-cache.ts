/** This instance's memory of sessions: a known active session is served without the database. */
import { LRUCache } from 'lru-cache';
import type { ChangeNotice } from '../store/change-log.js';
import type { StoredSession } from '../store/rows.js';
import type { RevokeReason } from '../vocabulary.js';

/**
 * Per-instance memory of sessions, keyed by key digest, so a known active session is served
 * without the database. Bounded (LRU): a forgotten session is simply read again.
 */
export class SessionCache {
  private readonly entries: LRUCache<string, StoredSession>;

  constructor(maxEntries: number) {
    this.entries = new LRUCache({ max: maxEntries });
  }

  get(keyHash: string): StoredSession | undefined {
    return this.entries.get(keyHash);
  }

  set(session: StoredSession): void {
    this.entries.set(session.keyHash, session);
  }

  /** A change made here or learned from the change feed: memory must not serve a revoked session again. */
  apply(notice: ChangeNotice): void {
    if (notice.kind === 'REVOKED') this.markRevoked(notice.keyHash, notice.revokedAt, notice.reason);
  }

  /** Marks a cached session revoked (from this instance or a notification); unknown ones need nothing. */
  markRevoked(keyHash: string, revokedAt: Date, reason: RevokeReason): void {
    const session = this.entries.peek(keyHash);
    if (session && !session.revokedAt) {
      this.entries.set(keyHash, { ...session, revokedAt, revokedReason: reason });
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
