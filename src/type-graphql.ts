// The type-graphql entry (`graphql-session-controller/type-graphql`): re-exports only. Kept out
// of the main entry so that schema-first servers never load type-graphql or graphql-scalars.
import 'reflect-metadata';

export { sessionResolvers } from './api/resolvers.js';
export { SessionFilter } from './api/types/args.js';
export { SessionPageInfo, UserSessionConnection, UserSessionEdge } from './api/types/connection.js';
export { LimitSubject, SessionStatus } from './api/types/enums.js';
export { SessionDevice, SessionDeviceType } from './api/types/session-device.js';
export { SessionEvent, SessionEventType } from './api/types/session-event.js';
export { SessionLease } from './api/types/session-lease.js';
export { SessionLimitRule } from './api/types/session-limit-rule.js';
export { SessionStats } from './api/types/session-stats.js';
export { UserSession } from './api/types/user-session.js';
export { UniqueSession } from './directive/decorator.js';
export { uniqueSessionDirective } from './directive/type-defs.js';
