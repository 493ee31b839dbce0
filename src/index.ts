// The package's main entry: re-exports only. It loads neither type-graphql nor graphql-scalars,
// so a schema-first server needs neither; type-graphql support is `graphql-session-controller/type-graphql`.

export type { SessionResolverMap } from './api/resolver-map.js';
export type { SessionApi } from './api/session-api.js';
export type { SessionEventView, SessionLeaseView, UserSessionView } from './api/views.js';
export { bearerToken } from './bearer-token.js';
export { SessionController, type SessionPlugin } from './controller.js';
export type { SessionDeviceView } from './device.js';
export type { UniqueSessionOptions } from './directive/config.js';
export { uniqueSessionTypeDefs } from './directive/type-defs.js';
export {
  SessionConfigError,
  SessionDatabaseError,
  type SessionDatabaseErrorCode,
  SessionErrorCode,
  SessionShutdownError,
} from './errors.js';
export type { AdmitEvent, LeaseEvictEvent, RejectEvent, RevokeEvent, StoreErrorEvent } from './hooks.js';
export { hashSessionKey, type Identity, type PublicIdentity } from './identity.js';
export type { Logger } from './logger.js';
export type { MetricsOptions, MetricsRegistry, SessionMetrics } from './metrics/prometheus.js';
export type { DatabaseOption, Duration, HostOrm, SessionControllerOptions } from './options.js';
export { type CurrentSession, currentSession, requireSession } from './request-session.js';
export type { PruneResult } from './runtime/pruner.js';
export type { SslOption } from './store/connection-config.js';
export { sessionEntities } from './store/entities/index.js';
export type { LeaseHolding, LeaseInfo } from './store/lease-table.js';
export { sessionOrmOptions } from './store/orm-options.js';
export {
  DEVICE_TYPES,
  type DeviceType,
  type ExpiryReason,
  LIMIT_POLICIES,
  type LimitLevel,
  type LimitPolicy,
  REVOKE_REASONS,
  type RevokeOptions,
  type RevokeReason,
  type RevokeUserOptions,
  SESSION_SCOPES,
  SESSION_STATUSES,
  type SessionInfo,
  type SessionScope,
  type SessionStatusValue,
} from './vocabulary.js';
export type { GovernedServerOptions, GovernedWebSocketOptions, WebSocketConnection } from './websocket.js';
export {
  type AllowedOrigins,
  BOUND_CLOSE_CODES,
  originPolicy,
  WEBSOCKET_LIMIT_DEFAULTS,
  type WebSocketLimits,
  type WebSocketServerOptions,
} from './websocket-bounds.js';
export type { SharedDefences } from './websocket-defences.js';
