/**
 * What the library learned about a request, kept on its context: `currentSession` and
 * `requireSession` for resolvers, the lease checks for `@uniqueSession`.
 */
import { unauthenticated } from './errors.js';
import type { PublicIdentity } from './identity.js';
import type { Governed, LeaseRuntime } from './runtime/contracts.js';

/** What the plugin learned about one request; keyed by the request's context object. */
export interface RequestSession extends Governed {
  /** The seats of the controller that governed the request: `@uniqueSession` fields acquire through it. */
  leases: LeaseRuntime;
  /** The lease checks this request has started, by field: one per governed field per operation. */
  leaseChecks?: Map<string, Promise<void>>;
}

/** The session a resolver runs under. */
export interface CurrentSession {
  /** The session's public id (as in `UserSession.id`). */
  id: string;
  userId: string;
  identity: PublicIdentity;
}

/**
 * Where the request's session lives: a property of the context keyed by a symbol of this module,
 * not enumerable, so it cannot collide with the host's fields and no `Object.keys`, spread or
 * `JSON.stringify` of the context shows it; it goes away with the request. It was a WeakMap keyed
 * by the context: one entry per request cost the demo's server about 18 µs of CPU per request
 * (measured; most likely the garbage collector's work on a weak table that size), 5 % of its hot path
 * (docs/benchmark.md, "The hot path's last 5 %"). A context the host froze gets the WeakMap.
 */
const SESSION = Symbol('graphql-session-controller.session');
const frozenContexts = new WeakMap<object, RequestSession>();

export function setRequestSession(contextValue: object, value: RequestSession): void {
  if (Object.isExtensible(contextValue)) {
    Object.defineProperty(contextValue, SESSION, { value, writable: true, configurable: true, enumerable: false });
  } else {
    frozenContexts.set(contextValue, value);
  }
}

export function getRequestSession(contextValue: unknown): RequestSession | undefined {
  if (typeof contextValue !== 'object' || contextValue === null) return undefined;
  return (contextValue as { [SESSION]?: RequestSession })[SESSION] ?? frozenContexts.get(contextValue);
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
