/** The store's entities, for hosts that bring their own MikroORM and register them. */
import { AppCounterRecord } from './app-counter-record.js';
import { SessionLeaseRecord } from './session-lease-record.js';
import { SessionLimitRuleRecord } from './session-limit-rule-record.js';
import { SessionRecord } from './session-record.js';
import { TombstoneRecord } from './tombstone-record.js';

/** Register these in a host-owned MikroORM instance passed as `database`. */
export const sessionEntities = [
  SessionRecord,
  SessionLimitRuleRecord,
  SessionLeaseRecord,
  TombstoneRecord,
  AppCounterRecord,
];
