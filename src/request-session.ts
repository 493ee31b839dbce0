import { unauthenticated } from './errors.js';
import type { PublicIdentity } from './identity.js';
import type { Governed, LeaseRuntime } from './runtime/contracts.js';

/** What the plugin learned about one request; keyed by the request's context object. */
export interface RequestSession extends Governed {
  /** The seats of the controller that governed the request: `@uniqueSession` fields acquire through it. */
  leases: LeaseRuntime;
}

/** The session a resolver runs under. */
export interface CurrentSession {
  /** The session's public id (as in `UserSession.id`). */
  id: string;
  userId: string;
  identity: PublicIdentity;
}

// A WeakMap rather than a property on the context: it cannot collide with the host's own fields,
// and it goes away with the request.
const byContext = new WeakMap<object, RequestSession>();

export function setRequestSession(contextValue: object, value: RequestSession): void {
  byContext.set(contextValue, value);
}

export function getRequestSession(contextValue: unknown): RequestSession | undefined {
  return typeof contextValue === 'object' && contextValue !== null ? byContext.get(contextValue) : undefined;
}

/**
 * The session of the request whose context this is, or `null` for an anonymous request (or one
 * the plugin did not govern: plugin disabled, or store unreachable with `failMode: 'open'`).
 */
export function currentSession(contextValue: unknown): CurrentSession | null {
  const request = getRequestSession(contextValue);
  if (!request?.session || !request.identity) return null;
  const { sessionKey: _secret, ...identity } = request.identity;
  return { id: request.session.id, userId: request.session.userId, identity };
}

/** `currentSession`, for resolvers that need a session: an anonymous caller gets `UNAUTHENTICATED` (401). */
export function requireSession(contextValue: unknown): CurrentSession {
  const session = currentSession(contextValue);
  if (!session) throw unauthenticated();
  return session;
}
