import { LRUCache } from 'lru-cache';
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
