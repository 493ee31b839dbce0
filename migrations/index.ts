import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261125164550 } from './Migration20261125164550_initial.js';
import { Migration20261128100000_operators } from './Migration20261128100000_operators.js';
import { Migration20261128110000 } from './Migration20261128110000_scale.js';

/** Every migration, listed explicitly so the store finds them however the package is bundled. */
export const migrationsList: MigrationObject[] = [
  { name: 'Migration20261125164550_initial', class: Migration20261125164550 },
  { name: 'Migration20261128100000_operators', class: Migration20261128100000_operators },
  { name: 'Migration20261128110000_scale', class: Migration20261128110000 },
];
