import type { SessionController } from '../../src/controller.js';
import { internalsOf } from './internals.js';

/** Counts a controller's admission transactions and session look-ups from now on (tests, bench). */
export function countStoreCalls(controller: SessionController<any>): { admit: number; lookup: number } {
  const table = internalsOf(controller).store.sessions;
  const calls = { admit: 0, lookup: 0 };
  const admit = table.admit.bind(table);
  const lookup = table.findByKeyHash.bind(table);
  table.admit = (request) => {
    calls.admit++;
    return admit(request);
  };
  table.findByKeyHash = (keyHash) => {
    calls.lookup++;
    return lookup(keyHash);
  };
  return calls;
}
