/**
 * Keys this instance refused, refused again from memory: a client that retries a refused key
 * costs no transaction.
 */
import { LRUCache } from 'lru-cache';
import type { ExpiryReason, RevokeReason, SessionLimitLevel } from '../vocabulary.js';

/**
 * How long a key refused at a cap is refused from memory: the key costs at most one admission
 * transaction per this interval per instance while it keeps retrying, and is admitted at most
 * this long after a seat frees (docs/design.md, "Refused keys").
 */
const LIMIT_MEMORY_MS = 1_000;

/** What this instance remembers about a key it refused. */
export type Refusal =
  | { kind: 'LIMIT'; level: SessionLimitLevel; limit: number }
  | { kind: 'REVOKED'; reason: RevokeReason }
  | { kind: 'EXPIRED'; reason: ExpiryReason };

interface Entry {
  userId: string;
  refusal: Refusal;
  /** Local time after which the memory no longer answers; `Infinity` for a final refusal. */
  until: number;
  /** For a refusal at a cap: the seat generation it was refused in (see `placesFreed`). */
  generation?: number;
}

/**
 * The negative memory of the session runtime: keys this instance refused, by digest, so that a
 * client retrying a refused key does not cost a database transaction each time.
 *
 * A refusal at a cap is remembered for `LIMIT_MEMORY_MS`: the store is asked again at most that
 * often per key, which also bounds how long after a seat frees elsewhere the key is refused. When
 * this instance itself ends a session (not an eviction, which takes the seat it frees), the
 * refusals that seat could answer are forgotten at once: every refusal at the app cap, and the
 * user's refusals at the user cap. A revocation heard from another instance does not do that:
 * the change feed's poll hears each one many times, and under churn that would ask the store
 * for a refused key far more often than once a second. A revoked key without a row (a tombstone) and a key the store holds expired are final
 * (docs/contract.md rule 5: never admitted again), remembered until the LRU drops them. Both are
 * bounded like the session cache, separately, so refusals at a cap never push out final ones.
 */
export class RefusedKeys {
  private readonly final: LRUCache<string, Entry>;
  private readonly limits: LRUCache<string, Entry>;
  /** Bumped when this instance frees a seat: refusals of older generations no longer answer. */
  private appGeneration = 0;
  private readonly userGenerations: LRUCache<string, number>;

  constructor(maxEntries: number) {
    this.final = new LRUCache({ max: maxEntries });
    this.limits = new LRUCache({ max: maxEntries });
    this.userGenerations = new LRUCache({ max: maxEntries });
  }

  private generationOf(userId: string, refusal: Refusal): number {
    return refusal.kind === 'LIMIT' && refusal.level === 'APP'
      ? this.appGeneration
      : (this.userGenerations.get(userId) ?? 0);
  }

  /** The refusal to repeat for this key and user, if memory still answers for it. */
  get(keyHash: string, userId: string, now = Date.now()): Refusal | undefined {
    const entry = this.final.get(keyHash) ?? this.limits.get(keyHash);
    if (!entry || entry.userId !== userId) return undefined;
    if (
      now >= entry.until ||
      (entry.generation !== undefined && entry.generation !== this.generationOf(userId, entry.refusal))
    ) {
      this.limits.delete(keyHash);
      return undefined;
    }
    return entry.refusal;
  }

  /** A refusal at a cap: answered from memory for `LIMIT_MEMORY_MS`. */
  limit(keyHash: string, userId: string, level: SessionLimitLevel, limit: number, now = Date.now()): void {
    const refusal: Refusal = { kind: 'LIMIT', level, limit };
    this.limits.set(keyHash, {
      userId,
      refusal,
      until: now + LIMIT_MEMORY_MS,
      generation: this.generationOf(userId, refusal),
    });
  }

  /** This instance ended sessions of these users: their seats (and app seats) may be free. */
  placesFreed(userIds: Iterable<string>): void {
    this.appGeneration++;
    for (const userId of userIds) this.userGenerations.set(userId, (this.userGenerations.get(userId) ?? 0) + 1);
  }

  /** A final refusal: the key is revoked (tombstone) or expired in the store. */
  revokedOrExpired(keyHash: string, userId: string, refusal: Exclude<Refusal, { kind: 'LIMIT' }>): void {
    this.limits.delete(keyHash);
    this.final.set(keyHash, { userId, refusal, until: Number.POSITIVE_INFINITY });
  }

  get size(): number {
    return this.final.size + this.limits.size;
  }
}
