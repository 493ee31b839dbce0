/** The `gsc_session_limit_rule` table, for the ORM's migrations and hosts that register the entities. */
import { Entity, PrimaryKey, Property } from '@mikro-orm/core';

/** A stored limit for one user or one group: the seed's per-group session settings. */
@Entity({ tableName: 'gsc_limit_rule' })
export class SessionLimitRuleRecord {
  @PrimaryKey({ type: 'string', length: 16 })
  subjectType!: 'USER' | 'GROUP';

  @PrimaryKey({ type: 'string', length: 255 })
  subject!: string;

  /** `null` = unlimited. */
  @Property({ type: 'integer', nullable: true })
  maxSessions!: number | null;

  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' })
  updatedAt!: Date;
}
