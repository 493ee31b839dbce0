/** The `gsc_tombstone` table, for the ORM's migrations and hosts that register the entities. */
import { Entity, Index, PrimaryKey, Property } from '@mikro-orm/core';

/**
 * What is left of a revoked session once its row is pruned: the key's digest and why it was
 * revoked, kept until the key can no longer be valid, so the key is refused instead of admitted
 * as new (docs/contract.md rule 5).
 */
@Entity({ tableName: 'gsc_tombstone' })
@Index({ name: 'gsc_tombstone_expires_idx', properties: ['expiresAt'] })
export class TombstoneRecord {
  @PrimaryKey({ type: 'string', length: 64 })
  keyHash!: string;

  @Property({ type: 'string', length: 32 })
  reason!: string;

  @Property({ type: 'Date', columnType: 'timestamptz' })
  expiresAt!: Date;
}
