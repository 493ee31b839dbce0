/**
 * One admission per operation (docs/contract.md §12): `openSession(identity, context)` marks the
 * operation's context, so `mutation { a: login(…) b: login(…) }` opens one session and refuses
 * the rest, over HTTP and over WebSocket alike (each operation has a context of its own). The
 * mark is a property keyed by a symbol of this module, not enumerable, as in request-session.ts;
 * no AsyncLocalStorage, which would slow every promise of the host's process
 * (test/promise-hooks.test.ts).
 */
import { oneSessionPerOperation } from './errors.js';

const ADMITTED = Symbol('graphql-session-controller.admitted');
const frozenContexts = new WeakSet<object>();

/** The first admission of an operation's context passes; a second one throws `ONE_SESSION_PER_OPERATION`. */
export function claimAdmission(context: unknown): void {
  if (typeof context !== 'object' || context === null) return;
  if (Object.hasOwn(context, ADMITTED) || frozenContexts.has(context)) throw oneSessionPerOperation();
  if (Object.isExtensible(context)) {
    Object.defineProperty(context, ADMITTED, { value: true, enumerable: false, configurable: true });
  } else {
    frozenContexts.add(context);
  }
}
