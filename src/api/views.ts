/**
 * The session API's results as plain objects, in the shape of the GraphQL types of
 * `schema.graphql`. Both schema styles resolve these same objects: the type-graphql classes in
 * `types/` only describe them, so the operations never load type-graphql.
 */
import { deviceOf, type SessionDeviceView } from '../device.js';
import { expiresAt, sessionState } from '../policy/admission.js';
import type {
  Limit,
  LimitSubjectValue,
  SessionInfo,
  SessionScope,
  SessionStatusValue,
  Timeouts,
} from '../vocabulary.js';

/** `UserSession`: one session as the API shows it, never its key nor the key's digest. */
export interface UserSessionView {
  id: string;
  userId: string;
  status: SessionStatusValue;
  current: boolean;
  createdAt: Date;
  lastSeenAt: Date;
  expiresAt: Date | null;
  ipAddress: string | null;
  userAgent: string | null;
  revokedAt: Date | null;
  revokedReason: string | null;
  revokedNote: string | null;
  /** The user id of the caller that revoked it; `null` for evictions and code without a caller. */
  revokedBy: string | null;
  /** Read from `userAgent` when shown; `null` without one. */
  device: SessionDeviceView | null;
}

/** `SessionLease`: a session's seat on a `@uniqueSession` field. */
export interface SessionLeaseView {
  field: string;
  scope: SessionScope;
  session: UserSessionView;
  acquiredAt: Date;
  lastUsedAt: Date;
}

export interface UserSessionConnectionView {
  edges: Array<{ cursor: string; node: UserSessionView }>;
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  /** A promise where counting costs a query of its own: GraphQL waits for it only when asked. */
  totalCount: number | Promise<number>;
}

export interface SessionEventView {
  type: 'ADMITTED' | 'REVOKED' | 'EXPIRED';
  session: UserSessionView;
  reason: string | null;
}

export interface SessionStatsView {
  activeSessions: number;
  activeUsers: number;
  appLimit: Limit;
  defaultUserLimit: Limit;
}

export interface SessionLimitRuleView {
  subjectType: LimitSubjectValue;
  subject: string;
  maxSessions: Limit;
}

/**
 * The API's view of a stored session. `now` is the clock the status is derived with (the
 * database's); `status` may be given when the database already decided it.
 */
export function userSessionView(
  session: SessionInfo,
  current: boolean,
  timeouts: Timeouts,
  now: number,
  status: SessionStatusValue = sessionState(session, now, timeouts).status,
): UserSessionView {
  return {
    id: session.id,
    userId: session.userId,
    status,
    current,
    createdAt: session.createdAt,
    lastSeenAt: session.lastSeenAt,
    expiresAt: status === 'REVOKED' ? null : expiresAt(session, timeouts),
    ipAddress: session.ipAddress,
    userAgent: session.userAgent,
    revokedAt: session.revokedAt,
    revokedReason: session.revokedReason,
    revokedNote: session.revokedNote,
    revokedBy: session.revokedBy,
    device: deviceOf(session.userAgent),
  };
}
