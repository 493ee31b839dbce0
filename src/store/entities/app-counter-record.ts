/** The `gsc_app_counter` table, for the ORM's migrations and hosts that register the entities. */
import { Entity, PrimaryKey, Property } from '@mikro-orm/core';

/**
 * The app-wide count of counted sessions, in shards so that concurrent admissions update
 * different rows; the count is the sum. Kept by triggers on `gsc_session` (docs/design.md,
 * "The app count").
 */
@Entity({ tableName: 'gsc_app_counter' })
export class AppCounterRecord {
  @PrimaryKey({ type: 'smallint', autoincrement: false })
  shard!: number;

  @Property({ type: 'bigint', default: 0 })
  n!: string;
}
