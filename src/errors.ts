/**
 * Every error the library raises, one constructor each, so an error has the same code and HTTP
 * status wherever it is raised.
 */
import { GraphQLError } from 'graphql';
import type { ExpiryReason, LimitLevel, RevokeReason } from './vocabulary.js';

/** Every error this library raises carries one of these in `extensions.code`. */
export enum SessionErrorCode {
  SESSION_LIMIT_EXCEEDED = 'SESSION_LIMIT_EXCEEDED',
  SESSION_REVOKED = 'SESSION_REVOKED',
  SESSION_EXPIRED = 'SESSION_EXPIRED',
  UNAUTHENTICATED = 'UNAUTHENTICATED',
  FORBIDDEN = 'FORBIDDEN',
  NOT_FOUND = 'NOT_FOUND',
  BAD_USER_INPUT = 'BAD_USER_INPUT',
  SESSION_STORE_UNAVAILABLE = 'SESSION_STORE_UNAVAILABLE',
  COST_LIMIT_EXCEEDED = 'COST_LIMIT_EXCEEDED',
  SESSION_HOST_ERROR = 'SESSION_HOST_ERROR',
  /** A bound of `sessions.websocket(...)` refused an operation (docs/contract.md §12). */
  WEBSOCKET_LIMIT_EXCEEDED = 'WEBSOCKET_LIMIT_EXCEEDED',
  /** `openSession` was called a second time while one operation ran (aliased logins). */
  ONE_SESSION_PER_OPERATION = 'ONE_SESSION_PER_OPERATION',
  /** A request the server cannot serve as sent (e.g. a subscription over HTTP). */
  BAD_REQUEST = 'BAD_REQUEST',
}

/**
 * Marks the errors this library raised, so that only they lose their stack traces: codes such as
 * FORBIDDEN or BAD_USER_INPUT are also the host's and Apollo's (docs/contract.md §15). A
 * non-enumerable symbol: invisible in the response, in JSON and to other code.
 */
const RAISED_BY_LIBRARY = Symbol('graphql-session-controller error');

/** Whether `error` (or the error a resolver threw, wrapped by graphql-js) was raised by this library. */
export function isLibraryError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  if ((error as { [RAISED_BY_LIBRARY]?: true })[RAISED_BY_LIBRARY] === true) return true;
  const original = (error as { originalError?: unknown }).originalError;
  return typeof original === 'object' && original !== null && RAISED_BY_LIBRARY in original;
}

function sessionError(
  message: string,
  code: SessionErrorCode,
  status: number | undefined,
  extra: Record<string, unknown> = {},
): GraphQLError {
  const error = new GraphQLError(message, {
    extensions: { code, ...extra, ...(status === undefined ? {} : { http: { status } }) },
  });
  Object.defineProperty(error, RAISED_BY_LIBRARY, { value: true });
  return error;
}

export function sessionLimitExceeded(level: LimitLevel, limit: number, field?: string): GraphQLError {
  const what = level === 'APP' ? 'the application' : level === 'USER' ? 'this user' : `field ${field ?? '?'}`;
  return sessionError(
    `Session limit exceeded: ${what} allows at most ${limit} concurrent session(s).`,
    SessionErrorCode.SESSION_LIMIT_EXCEEDED,
    // A field-level refusal is a partial result, not a failed request.
    level === 'VIEW' ? undefined : 403,
    { level, limit, ...(field ? { field } : {}) },
  );
}

export function sessionRevoked(reason: RevokeReason): GraphQLError {
  return sessionError(`This session has been revoked (${reason}).`, SessionErrorCode.SESSION_REVOKED, 401, {
    reason,
  });
}

export function sessionExpired(reason: ExpiryReason): GraphQLError {
  const why = reason === 'IDLE' ? 'it was idle too long' : 'it reached its maximum lifetime';
  return sessionError(`This session has expired: ${why}.`, SessionErrorCode.SESSION_EXPIRED, 401, { reason });
}

export function unauthenticated(message = 'You must be signed in to do this.', withStatus = true): GraphQLError {
  return sessionError(message, SessionErrorCode.UNAUTHENTICATED, withStatus ? 401 : undefined);
}

export function forbidden(message = 'Only an administrator may do this.'): GraphQLError {
  return sessionError(message, SessionErrorCode.FORBIDDEN, undefined);
}

export function notFound(what = 'Session'): GraphQLError {
  return sessionError(`${what} not found.`, SessionErrorCode.NOT_FOUND, undefined);
}

export function badUserInput(argument: string, problem: string): GraphQLError {
  return sessionError(`Invalid argument "${argument}": ${problem}`, SessionErrorCode.BAD_USER_INPUT, undefined, {
    argument,
  });
}

export function storeUnavailable(cause?: unknown): GraphQLError {
  // The reason a client may see: what kind of outage, never a host name or a driver's message.
  if (cause instanceof SessionDatabaseError) {
    const why =
      cause.code === 'DATABASE_NO_PRIMARY'
        ? 'no database host accepts writes (only standbys answer)'
        : 'the database connection cannot be secured as configured';
    return sessionError(
      `The session store is unavailable: ${why}; try again shortly.`,
      SessionErrorCode.SESSION_STORE_UNAVAILABLE,
      503,
      { reason: cause.code },
    );
  }
  return sessionError(
    'The session store is unavailable; try again shortly.',
    SessionErrorCode.SESSION_STORE_UNAVAILABLE,
    503,
  );
}

/** A request asks the session API for more than `api.maxCallsPerRequest` fields. */
export function costLimitExceeded(limit: number, cost: number): GraphQLError {
  return sessionError(
    `This request asks the session API for ${cost} fields; at most ${limit} are allowed per request.`,
    SessionErrorCode.COST_LIMIT_EXCEEDED,
    400,
    { limit, cost },
  );
}

/**
 * A function of the host (`identify`, `limitFor`, `isExempt`, `isAdmin`) failed: a bug of the
 * application, not of the store nor of the caller. The message names the function, never the
 * host's error (which is logged), so nothing of the server leaks to the client.
 */
export function hostError(fn: string): GraphQLError {
  return sessionError(
    `The application's ${fn} function failed; the server log has the details.`,
    SessionErrorCode.SESSION_HOST_ERROR,
    500,
    { function: fn },
  );
}

/** A bound of `sessions.websocket(...)` refused this operation; `bound` names the option. */
export function webSocketLimitExceeded(bound: string, limit: number, message: string): GraphQLError {
  return sessionError(message, SessionErrorCode.WEBSOCKET_LIMIT_EXCEEDED, undefined, { bound, limit });
}

/**
 * One operation admits at most one session: `mutation { a: login(…) b: login(…) }` would
 * otherwise open one session per alias in a single request, past any rate limit on logins.
 */
export function oneSessionPerOperation(): GraphQLError {
  return sessionError(
    'One sign-in per operation: this operation already opened a session. Send each sign-in as its own operation.',
    SessionErrorCode.ONE_SESSION_PER_OPERATION,
    // A field error: the operation's first sign-in succeeded, and its answer must reach the client.
    undefined,
  );
}

/** A subscription sent over HTTP: it is served over WebSocket only. */
export function subscriptionOverHttp(): GraphQLError {
  return sessionError(
    'Subscriptions are served over WebSocket (graphql-ws, the graphql-transport-ws protocol), not over HTTP: connect to this endpoint with a WebSocket client.',
    SessionErrorCode.BAD_REQUEST,
    400,
  );
}

/** `close()` could not write every pending last-seen touch before its deadline: they are lost. */
export class SessionShutdownError extends Error {
  override name = 'SessionShutdownError';
  constructor(
    readonly lostTouches: number,
    deadlineMs: number,
  ) {
    super(
      `${lostTouches} last-seen touch(es) lost: the session store could not be reached within the ${deadlineMs} ms shutdown deadline.`,
    );
  }
}

/** A configuration mistake found when the controller or the schema is set up. */
export class SessionConfigError extends Error {
  override name = 'SessionConfigError';
}

/** Why PostgreSQL cannot serve as the session store (`SessionDatabaseError.code`). */
export type SessionDatabaseErrorCode =
  /** Every host that answered is a standby (in recovery): nothing accepts writes. */
  | 'DATABASE_NO_PRIMARY'
  /** TLS is required (`sslmode`, the `ssl` option) and the server offers none. */
  | 'DATABASE_TLS_UNAVAILABLE'
  /** The server's TLS certificate does not verify (`verify-ca`, `verify-full`, `ssl: true`). */
  | 'DATABASE_TLS_UNTRUSTED';

/**
 * The PostgreSQL server(s) given cannot serve as the session store: `create` rejects with it, and
 * while running a request that meets it answers `SESSION_STORE_UNAVAILABLE` with the code as
 * `extensions.reason`.
 */
export class SessionDatabaseError extends Error {
  override name = 'SessionDatabaseError';
  constructor(
    readonly code: SessionDatabaseErrorCode,
    message: string,
  ) {
    super(message);
  }
}
