/** The `gsc_session_lease` table, for the ORM's migrations and hosts that register the entities. */
import { Entity, Index, PrimaryKey, Property } from '@mikro-orm/core';

/**
 * A session's hold on a `@uniqueSession` field. `scopeKey` is the user id for `USER` scope and
 * `*` for `APP` scope, so one index serves both counts.
 */
@Entity({ tableName: 'gsc_lease' })
@Index({ name: 'gsc_lease_session_idx', properties: ['sessionId'] })
export class SessionLeaseRecord {
  @PrimaryKey({ type: 'string', length: 255 })
  field!: string;

  @PrimaryKey({ type: 'string', length: 255 })
  scopeKey!: string;

  @PrimaryKey({ type: 'uuid' })
  sessionId!: string;

  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' })
  acquiredAt!: Date;

  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' })
  lastUsedAt!: Date;
}
