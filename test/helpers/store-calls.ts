import type { SessionController } from '../../src/controller.js';
import { internalsOf } from './internals.js';

/** Counts a controller's admission transactions and session look-ups from now on (tests, bench). */
export function countStoreCalls(controller: SessionController<any>): { admit: number; lookup: number } {
  const store = internalsOf(controller).store.sessions;
  const calls = { admit: 0, lookup: 0 };
  const admit = store.admit.bind(store);
  const lookup = store.findByKeyHash.bind(store);
  store.admit = (request) => {
    calls.admit++;
    return admit(request);
  };
  store.findByKeyHash = (keyHash) => {
    calls.lookup++;
    return lookup(keyHash);
  };
  return calls;
}
