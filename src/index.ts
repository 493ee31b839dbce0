import 'reflect-metadata';

export { SessionController } from './controller.js';
export {
  SessionErrorCode,
  SessionConfigError,
  REVOKE_REASONS,
  type LimitLevel,
  type RevokeReason,
  type ExpiryReason,
} from './errors.js';
export type { AdmitEvent, RejectEvent, RevokeEvent, SessionInfo, StoreErrorEvent } from './events.js';
export { hashSessionKey, type Identity, type PublicIdentity } from './identity.js';
export {
  LIMIT_POLICIES,
  type DatabaseOption,
  type Duration,
  type LimitPolicy,
  type SessionControllerOptions,
} from './options.js';
export { sessionPlugin } from './plugin.js';
export { currentSession, type CurrentSession } from './request-session.js';
export { sessionEntities } from './store/entities/index.js';
export { migrationsList } from '../migrations/index.js';
export { sessionOrmOptions } from './store/database.js';
export { UniqueSession } from './directive/decorator.js';
export { uniqueSessionTransformer } from './directive/transformer.js';
export { UNIQUE_SESSION_DIRECTIVE, uniqueSessionDirective, uniqueSessionTypeDefs } from './directive/type-defs.js';
export { UNIQUE_SESSION_EXTENSION } from './directive/enforce.js';
export {
  SESSION_SCOPES,
  UNIQUE_SESSION_DEFAULTS,
  type SessionScope,
  type UniqueSessionConfig,
  type UniqueSessionOptions,
} from './lease-policy.js';
export type { LeaseInfo } from './store/lease-store.js';
export {
  createSessionResolvers,
  createSessionResolverMap,
  SessionApi,
  sessionApiTypeDefs,
  sessionTypeDefs,
  UserSession,
  UserSessionConnection,
  UserSessionEdge,
  PageInfo,
  SessionStats,
  SessionLimitRule,
  SessionStatus,
  LimitSubject,
  type SessionResolverMap,
} from './api/index.js';
