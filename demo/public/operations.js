/**
 * Every operation the page sends, written against schema.graphql and the demo's own fields
 * (demo/schema.ts). Pages are 20 rows, a literal `first` that keeps each one far inside the
 * demo's cost limit (demo/defences.ts).
 */
const SESSION =
  'id userId status current createdAt lastSeenAt ipAddress userAgent revokedReason revokedBy device { browser os type }';

const PAGE = `totalCount pageInfo { hasNextPage endCursor } edges { node { ${SESSION} } }`;

export const LOGIN = `mutation Login($username: String!, $password: String!) {
  login(username: $username, password: $password) { token session { id userId } }
}`;

export const LOGOUT = 'mutation Logout { logout }';

export const DEVICES = `query Devices($after: String) { me activeSessions(first: 20, after: $after) { ${PAGE} } }`;

export const SESSION_EVENTS = `subscription SessionEvents { sessionEvents { type reason session { ${SESSION} } } }`;

export const REVOKE_SESSION = `mutation RevokeSession($id: ID!) { revokeSession(id: $id) { ${SESSION} } }`;

export const REVOKE_OTHER_SESSIONS = 'mutation RevokeOtherSessions { revokeOtherSessions }';

/** Admins only: FORBIDDEN for anyone else, which is how the page learns whether to show the admin part. */
export const OVERVIEW = `query Overview {
  sessionStats { activeSessions activeUsers appLimit defaultUserLimit }
  sessionLimitRules { subjectType subject maxSessions }
}`;

export const ALL_SESSIONS = `query AllSessions($filter: SessionFilter, $after: String) {
  sessions(filter: $filter, first: 20, after: $after) { ${PAGE} }
}`;

export const SET_LIMIT = `mutation SetLimit($subjectType: LimitSubject!, $subject: String!, $maxSessions: Int) {
  setSessionLimit(subjectType: $subjectType, subject: $subject, maxSessions: $maxSessions) { subjectType subject maxSessions }
}`;

export const REMOVE_LIMIT = `mutation RemoveLimit($subjectType: LimitSubject!, $subject: String!) {
  removeSessionLimit(subjectType: $subjectType, subject: $subject)
}`;
