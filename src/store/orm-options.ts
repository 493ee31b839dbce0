/** The store's MikroORM options (entities, migrations), for hosts that bring their own ORM. */
import type { Options } from '@mikro-orm/core';
import { Migrator } from '@mikro-orm/migrations';
import { migrationsList } from '../../migrations/index.js';
import { sessionEntities } from './entities/index.js';

/** The ORM options of the store; hosts that bring their own ORM register `sessionEntities` and these migrations. */
export function sessionOrmOptions(): Partial<Options> {
  return {
    entities: sessionEntities,
    extensions: [Migrator],
    migrations: {
      tableName: 'gsc_migrations',
      migrationsList,
      transactional: true,
      allOrNothing: true,
      snapshot: false,
      silent: true,
    },
    // Each unit of work forks its own EntityManager; the global one must never collect state.
    allowGlobalContext: false,
    discovery: { disableDynamicFileAccess: true, requireEntitiesArray: true },
  };
}
