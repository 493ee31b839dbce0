import { SessionLeaseRecord } from './session-lease-record.js';
import { SessionLimitRuleRecord } from './session-limit-rule-record.js';
import { SessionRecord } from './session-record.js';

export { SessionLeaseRecord, SessionLimitRuleRecord, SessionRecord };

/** Register these in a host-owned MikroORM instance passed as `database`. */
export const sessionEntities = [SessionRecord, SessionLimitRuleRecord, SessionLeaseRecord];
