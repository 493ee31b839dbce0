export { createSessionResolvers } from './resolvers.js';
export { createSessionResolverMap, type SessionResolverMap } from './resolver-map.js';
export { SessionApi, type SessionApiHost, type ActiveSessionsArgs } from './session-api.js';
export { sessionApiTypeDefs, sessionTypeDefs } from './type-defs.js';
export { UserSession } from './types/user-session.js';
export { UserSessionConnection, UserSessionEdge, PageInfo } from './types/connection.js';
export { SessionStats } from './types/session-stats.js';
export { SessionLimitRule } from './types/session-limit-rule.js';
export { SessionStatus, LimitSubject } from './types/enums.js';
