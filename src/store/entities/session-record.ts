/** The `gsc_session` table, for the ORM's migrations and hosts that register the entities. */
import { Entity, Index, PrimaryKey, Property, Unique } from '@mikro-orm/core';

/**
 * One row per session key. The key itself is never stored: `keyHash` is its SHA-256 digest,
 * and `id` is a random UUID that is safe to show.
 */
@Entity({ tableName: 'gsc_session' })
// Counting a user's active sessions and listing them newest first read this partial index only.
// It leaves out revoked rows so it stays small, and leaves out `last_seen_at` so touches stay HOT updates.
@Index({
  name: 'gsc_session_user_active_idx',
  expression:
    'create index "gsc_session_user_active_idx" on "gsc_session" ("user_id", "created_at" desc, "id" desc) where "revoked_at" is null',
})
// The app count's exact path (near the cap) and the sweep read only counted rows: not revoked,
// not exempt, not yet found expired (docs/design.md, "The app count").
@Index({
  name: 'gsc_session_app_counted_idx',
  expression:
    'create index "gsc_session_app_counted_idx" on "gsc_session" ("created_at" desc) where "revoked_at" is null and "exempt" = false and "swept_at" is null',
})
// Sessions the sweep stopped counting: the reconciliation brings back those a lengthened timeout revived.
@Index({
  name: 'gsc_session_swept_idx',
  expression:
    'create index "gsc_session_swept_idx" on "gsc_session" ("swept_at") where "swept_at" is not null and "revoked_at" is null',
})
// Pruning and cross-instance sync look up recently revoked rows by time.
@Index({
  name: 'gsc_session_revoked_idx',
  expression: 'create index "gsc_session_revoked_idx" on "gsc_session" ("revoked_at") where "revoked_at" is not null',
})
// The session history (`sessions`, docs/contract.md §9) reads every status, newest first: the whole
// fleet by this index, one user's by the next, one address's by the third; each a keyset walk of
// `first` entries whatever the table's size. None holds `last_seen_at`, so touches stay HOT.
@Index({
  name: 'gsc_session_created_idx',
  expression: 'create index "gsc_session_created_idx" on "gsc_session" ("created_at" desc, "id" desc)',
})
@Index({
  name: 'gsc_session_user_created_idx',
  expression: 'create index "gsc_session_user_created_idx" on "gsc_session" ("user_id", "created_at" desc, "id" desc)',
})
// Revoked sessions are a minority spread over the whole history: the fleet's REVOKED filter gets
// its own walk. Inserts never touch it (a new session is not revoked).
@Index({
  name: 'gsc_session_revoked_created_idx',
  expression:
    'create index "gsc_session_revoked_created_idx" on "gsc_session" ("created_at" desc, "id" desc) where "revoked_at" is not null',
})
@Index({
  name: 'gsc_session_ip_created_idx',
  expression:
    'create index "gsc_session_ip_created_idx" on "gsc_session" ("ip_address", "created_at" desc, "id" desc) where "ip_address" is not null',
})
export class SessionRecord {
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @Property({ type: 'string', length: 255 })
  userId!: string;

  @Unique({ name: 'gsc_session_key_hash_unique' })
  @Property({ type: 'string', length: 64 })
  keyHash!: string;

  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' })
  createdAt!: Date;

  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' })
  lastSeenAt!: Date;

  @Property({ type: 'Date', columnType: 'timestamptz', nullable: true })
  revokedAt?: Date | null;

  @Property({ type: 'string', length: 32, nullable: true })
  revokedReason?: string | null;

  @Property({ type: 'string', length: 200, nullable: true })
  revokedNote?: string | null;

  /** The user id of the caller that revoked the session; `null` for evictions and code without a caller. */
  @Property({ type: 'string', length: 255, nullable: true })
  revokedBy?: string | null;

  @Property({ type: 'string', length: 64, nullable: true })
  ipAddress?: string | null;

  @Property({ type: 'string', length: 512, nullable: true })
  userAgent?: string | null;

  @Property({ type: 'boolean', default: false })
  exempt: boolean = false;

  /** When the host's key stops being valid (`Identity.expiresAt`): how long a tombstone must outlive the row. */
  @Property({ type: 'Date', columnType: 'timestamptz', nullable: true })
  keyExpiresAt?: Date | null;

  /** When the sweep found the session expired and the app count stopped counting it (bookkeeping only). */
  @Property({ type: 'Date', columnType: 'timestamptz', nullable: true })
  sweptAt?: Date | null;
}
