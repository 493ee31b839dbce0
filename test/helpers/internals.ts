/**
 * The parts a controller assembled, for the library's own tests, benchmarks and drills (which
 * count store calls and read rows directly). It reads the controller's private fields, so it lives
 * here and never ships: the package's surface is the controller's public methods.
 */
import type { SessionController } from '../../src/controller.js';
import type { AppCountKeeper } from '../../src/runtime/app-count-keeper.js';
import type { DbClock } from '../../src/runtime/db-clock.js';
import type { Leases } from '../../src/runtime/leases.js';
import type { Sessions } from '../../src/runtime/sessions.js';
import type { SqlRunner } from '../../src/store/sql.js';
import type { Store } from '../../src/store/store.js';

export function internalsOf(controller: SessionController): {
  store: Store;
  sql: SqlRunner;
  sessions: Sessions;
  leases: Leases;
  appCount: AppCountKeeper;
  clock: DbClock;
} {
  const c = controller as unknown as {
    store: Store;
    sessions: Sessions;
    leases: Leases;
    appCount: AppCountKeeper;
    clock: DbClock;
  };
  return {
    store: c.store,
    sql: c.store.sql,
    sessions: c.sessions,
    leases: c.leases,
    appCount: c.appCount,
    clock: c.clock,
  };
}
