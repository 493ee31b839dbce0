/**
 * A governed event stream on the transports Yoga serves (SSE, and any envelop server's async
 * results): it ends, with the session's refusal as its last event, when the session is revoked or
 * expires (on any instance: the connection registry hears the change feed), and it gives its
 * seats back however it ends: refusal, completion, error, or the client going away.
 */
import { GraphQLError } from 'graphql';
import { SessionErrorCode, sessionExpired, sessionRevoked, storeUnavailable } from '../errors.js';
import type { ExpiryReason, RevokeReason } from '../vocabulary.js';

export interface StreamWatch {
  /** Starts watching; `end` is called (at most once that matters) with the refusal. Returns the stop. */
  watch(end: (refusal: GraphQLError) => void): () => void;
  /** The stream is over, whichever way: called once. */
  ended(): void;
}

/**
 * Wraps `source`. Not an async generator on purpose: a generator's `return()` waits for a pending
 * `next()`, so a stream idle between events would outlive its revocation until the next event
 * came; here a refusal or a `return()` settles at once and the source's own `return()` runs
 * beside it.
 */
export function governedStream<T>(
  source: AsyncIterable<T>,
  { watch, ended }: StreamWatch,
  lastEvent: (refusal: GraphQLError) => T,
): AsyncIterableIterator<T> {
  const iterator = source[Symbol.asyncIterator]();
  let finished = false;
  let refusal: GraphQLError | undefined;
  let waiting: ((result: IteratorResult<T>) => void) | undefined;
  let stopWatching: (() => void) | undefined;
  const finish = () => {
    if (finished) return;
    finished = true;
    stopWatching?.();
    ended();
    void Promise.resolve()
      .then(() => iterator.return?.())
      .catch(() => {});
  };
  stopWatching = watch((error) => {
    if (finished || refusal) return;
    const deliver = waiting;
    if (!deliver) {
      // Delivered by the next pull.
      refusal = error;
      return;
    }
    waiting = undefined;
    finish();
    deliver({ value: lastEvent(error), done: false });
  });
  const done = (): IteratorResult<T> => ({ value: undefined, done: true });
  return {
    next() {
      if (finished) return Promise.resolve(done());
      if (refusal) {
        const error = refusal;
        finish();
        return Promise.resolve({ value: lastEvent(error), done: false });
      }
      return new Promise<IteratorResult<T>>((resolve, reject) => {
        waiting = resolve;
        iterator.next().then(
          (result) => {
            // The stream ended while this event was on its way: it is dropped.
            if (waiting !== resolve) return;
            waiting = undefined;
            if (result.done) finish();
            resolve(result);
          },
          (error: unknown) => {
            if (waiting !== resolve) return;
            waiting = undefined;
            finish();
            reject(error);
          },
        );
      });
    },
    return() {
      const deliver = waiting;
      waiting = undefined;
      finish();
      deliver?.(done());
      return Promise.resolve(done());
    },
    throw(error?: unknown) {
      const deliver = waiting;
      waiting = undefined;
      finish();
      deliver?.(done());
      return Promise.reject(error);
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

/**
 * The refusal a stream ends with, from the connection registry's close reason (`CODE` or
 * `CODE:detail`, docs/contract.md §8): the same error an HTTP request of the session would get.
 */
export function refusalFromCloseReason(reason: string): GraphQLError {
  const [code, detail] = reason.split(':', 2);
  switch (code) {
    case SessionErrorCode.SESSION_REVOKED:
      return sessionRevoked(detail as RevokeReason);
    case SessionErrorCode.SESSION_EXPIRED:
      return sessionExpired(detail as ExpiryReason);
    case SessionErrorCode.SESSION_STORE_UNAVAILABLE:
      return storeUnavailable();
    default:
      return new GraphQLError(`The stream was ended (${reason}).`, { extensions: { code: code || 'UNAUTHENTICATED' } });
  }
}
