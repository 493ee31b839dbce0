import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { MikroORM, type Options } from '@mikro-orm/core';
import { Migrator } from '@mikro-orm/migrations';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';
import { PGliteDriver, type PGliteConnectionConfig } from 'mikro-orm-pglite';
import { migrationsList } from '../../migrations/index.js';
import type { DatabaseOption } from '../options.js';
import { sessionEntities } from './entities/index.js';
import { ADVISORY_NAMESPACE } from './locks.js';
import { knexStatements, sqlRunner, type SqlRunner } from './sql.js';
import type { Knex } from '@mikro-orm/postgresql';

/** The ORM the store runs on, and what it needs to know about who owns it. */
export interface Database {
  orm: MikroORM;
  kind: 'postgresql' | 'embedded';
  /** Every statement of the store runs here. */
  sql: SqlRunner;
  /** A connection string for a dedicated LISTEN connection; absent when unknown. */
  url?: string;
  close(): Promise<void>;
}

function database(orm: MikroORM, kind: Database['kind'], close: () => Promise<void>, url?: string): Database {
  return { orm, kind, sql: sqlRunner(orm, kind), ...(url ? { url } : {}), close };
}

/** Timeouts short enough that an unreachable database fails a request in seconds, not minutes. */
const CONNECT_TIMEOUT_MS = 3_000;
const QUERY_TIMEOUT_MS = 10_000;

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

/**
 * The store's ORM on a PGlite instance the caller owns (and closes): the way for several
 * controllers in one process to share one embedded database (pass the ORM as `database`).
 */
export function embeddedOrm(pglite: PGlite): Promise<MikroORM> {
  return MikroORM.init({
    ...sessionOrmOptions(),
    driver: PGliteDriver,
    dbName: 'postgres',
    driverOptions: { connection: { pglite: () => pglite } satisfies PGliteConnectionConfig },
  });
}

export async function openDatabase(option: DatabaseOption): Promise<Database> {
  if (option instanceof MikroORM) {
    if (option.config.get('driver') === PGliteDriver) {
      // A host-owned embedded database: one process, one connection, nothing to listen to.
      return database(option, 'embedded', async () => {});
    }
    return database(option, 'postgresql', async () => {}, option.config.getClientUrl() || undefined);
  }
  if (typeof option === 'string') {
    const orm = await MikroORM.init({
      ...sessionOrmOptions(),
      driver: PostgreSqlDriver,
      clientUrl: option,
      pool: { min: 0, max: 10, acquireTimeoutMillis: CONNECT_TIMEOUT_MS, idleTimeoutMillis: 10_000 },
      driverOptions: {
        connection: { connectionTimeoutMillis: CONNECT_TIMEOUT_MS, query_timeout: QUERY_TIMEOUT_MS },
      },
    });
    return database(orm, 'postgresql', () => orm.close(true), option);
  }
  if (!('embedded' in option)) throw new TypeError('unsupported database option');
  // PGlite creates its own directory but not the parents; a fresh checkout has neither.
  if (option.embedded.dataDir) await mkdir(option.embedded.dataDir, { recursive: true });
  const pglite = new PGlite(option.embedded.dataDir);
  await pglite.waitReady;
  const orm = await embeddedOrm(pglite);
  return database(orm, 'embedded', async () => {
    await orm.close(true);
    await pglite.close();
  });
}

const embeddedMigrations = new WeakMap<MikroORM, Promise<string[]>>();

/**
 * Applies pending migrations. Several instances may start at once on one PostgreSQL database, so
 * there the run holds an advisory lock and the losers find nothing left to do. The embedded
 * database has one connection and one process, so it needs no lock (and taking one would hold
 * the only connection the migrator needs).
 */
export async function migrateDatabase(db: Pick<Database, 'orm' | 'kind'>): Promise<string[]> {
  const migrator = db.orm.getMigrator();
  if (db.kind === 'embedded') {
    // Controllers sharing one embedded ORM in one process take turns instead of a lock.
    const previous = embeddedMigrations.get(db.orm) ?? Promise.resolve();
    const run = previous.catch(() => {}).then(async () => (await migrator.up()).map((m) => m.name));
    embeddedMigrations.set(db.orm, run);
    return run;
  }
  const em = db.orm.em.fork();
  return em.transactional(async (tx) => {
    const trx = tx.getTransactionContext();
    await knexStatements(trx as Knex.Transaction).all('select pg_advisory_xact_lock(?, 0)', [ADVISORY_NAMESPACE.migrations]);
    return (await migrator.up({ transaction: trx })).map((m) => m.name);
  });
}
