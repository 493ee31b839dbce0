import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261125164550 } from './Migration20261125164550_initial.js';

/** Every migration, listed explicitly so the store finds them however the package is bundled. */
export const migrationsList: MigrationObject[] = [
  { name: 'Migration20261125164550_initial', class: Migration20261125164550 },
];
