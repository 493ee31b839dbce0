/**
 * Opens the database the `database` option names (a PostgreSQL URL, the embedded database, or the
 * host's ORM) and applies the migrations, so the store is ready before the first request.
 */
import { MikroORM } from '@mikro-orm/core';
import type { EntityManager as SqlEntityManager } from '@mikro-orm/postgresql';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';
import { SessionConfigError } from '../errors.js';
import type { DatabaseOption } from '../options.js';
import { type ConnectionConfig, ConnectionUrlError, connectionConfig, type SslOption } from './connection-config.js';
import { ADVISORY_NAMESPACE } from './locks.js';
import { sessionOrmOptions } from './orm-options.js';
import { type KnexLog, knexLogger, primaryDialect } from './primary-dialect.js';
import { PrimaryLocator } from './primary-locator.js';
import { knexStatements, type PreparedOptions, type SqlRunner, sqlRunner } from './sql.js';

/** The ORM the store runs on, and what it needs to know about who owns it. */
export interface Database {
  orm: MikroORM;
  kind: 'postgresql' | 'embedded';
  /** Every statement of the store runs here. */
  sql: SqlRunner;
  /** Opens connections to the primary with the URL's settings (the LISTEN connection's default); absent when unknown. */
  primary?: PrimaryLocator;
  /** The `ssl` option, for other URLs the library connects to (`feedDatabase`). */
  ssl?: SslOption;
  close(): Promise<void>;
}

function database(
  orm: MikroORM,
  kind: Database['kind'],
  close: () => Promise<void>,
  prepared: PreparedOptions,
  primary?: PrimaryLocator,
  ssl?: SslOption,
): Database {
  return {
    orm,
    kind,
    sql: sqlRunner(orm, kind, prepared),
    ...(primary ? { primary } : {}),
    ...(ssl !== undefined ? { ssl } : {}),
    close,
  };
}

/** Reads a URL option into its connection settings; a URL that cannot be read is a configuration error naming the option. */
export function readConnectionUrl(option: string, url: string, ssl: SslOption | undefined): ConnectionConfig {
  try {
    return connectionConfig(url, { ssl, connectTimeoutMs: CONNECT_TIMEOUT_MS });
  } catch (error) {
    if (error instanceof ConnectionUrlError)
      throw new SessionConfigError(`Invalid option "${option}": ${error.message}`);
    throw error;
  }
}

/** Timeouts short enough that an unreachable database fails a request in seconds, not minutes. */
const CONNECT_TIMEOUT_MS = 3_000;
const QUERY_TIMEOUT_MS = 10_000;

/** The database a PostgreSQL URL names does not exist (and creating it was not asked for). */
export class MissingDatabaseError extends Error {
  constructor(readonly database: string) {
    super(`PostgreSQL database "${database}" does not exist`);
    this.name = 'MissingDatabaseError';
  }
}

/** PostgreSQL's SQLSTATE for a connection to a database that does not exist. */
const INVALID_CATALOG_NAME = '3D000';
const DUPLICATE_DATABASE = '42P04';
/** PostgreSQL's SQLSTATE while the server is starting up, shutting down or in recovery. */
const CANNOT_CONNECT_NOW = '57P03';
/**
 * How many times start-up tries to connect before giving up. One connection attempt that outlasts
 * CONNECT_TIMEOUT_MS on a busy host (the server forking a backend, a first connection to a new
 * database) must not fail a whole server start; a refused or misaddressed connection still fails
 * at once.
 */
const START_ATTEMPTS = 3;
const START_RETRY_DELAY_MS = 500;

/** A failed connection check worth trying again: slow, not wrong. */
function isTransient(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: string; message?: string };
  // pg's connect timeout and the pool's acquire timeout race on the same 3 s: either may report it.
  return code === CANNOT_CONNECT_NOW || /timeout expired|connection timeout|timeout acquiring/i.test(message ?? '');
}

/** Creates the database a URL names, through the primary's `postgres` database; one already there is fine. */
async function createPostgresDatabase(config: ConnectionConfig): Promise<void> {
  const client = await new PrimaryLocator(config.withDatabase('postgres')).connect();
  try {
    await client.query(`create database ${client.escapeIdentifier(config.database)}`);
  } catch (error) {
    // Several instances started at once with `createDatabase: true`: one of them creates it.
    if ((error as { code?: string }).code !== DUPLICATE_DATABASE) throw error;
  } finally {
    await client.end();
  }
}

export interface OpenOptions extends PreparedOptions {
  /** Create the database a PostgreSQL URL names when it does not exist (option `createDatabase`). */
  createDatabase?: boolean;
  /** The `ssl` option: TLS settings for every connection opened from a URL (wins over the URL's). */
  ssl?: SslOption;
  /** Where the driver's own lines go (the library's logger); default: the console. */
  log?: KnexLog;
}

export async function openDatabase(
  option: DatabaseOption,
  { createDatabase = false, ssl, log = console, ...prepared }: OpenOptions = {},
): Promise<Database> {
  if (typeof option === 'string') {
    return openPostgres(readConnectionUrl('database', option, ssl), createDatabase, prepared, log, ssl);
  }
  if ('embedded' in option) {
    // PGlite is loaded only here: a server on PostgreSQL never loads it.
    const { openEmbedded } = await import('./embedded.js');
    const { orm, close } = await openEmbedded(option.embedded.dataDir);
    return database(orm, 'embedded', close, prepared);
  }
  const orm = option as unknown as MikroORM;
  const { isEmbeddedOrm } = await import('./embedded.js');
  if (isEmbeddedOrm(orm)) {
    // A host-owned embedded database: one process, one connection, nothing to listen to.
    return database(orm, 'embedded', async () => {}, prepared);
  }
  // A host-owned ORM on PostgreSQL: the LISTEN connection follows its URL, read the same way.
  const hostUrl = orm.config.getClientUrl();
  const primary = hostUrl ? new PrimaryLocator(readConnectionUrl('database', hostUrl, ssl)) : undefined;
  return database(orm, 'postgresql', async () => {}, prepared, primary, ssl);
}

async function openPostgres(
  config: ConnectionConfig,
  createDatabase: boolean,
  prepared: PreparedOptions,
  log: KnexLog,
  ssl: SslOption | undefined,
): Promise<Database> {
  const primary = new PrimaryLocator(config);
  // MikroORM 6 drops a URL's query parameters (sslmode…) for the pool and cannot read several
  // hosts: it gets no URL, and every pooled connection is opened by the locator with the URL's
  // settings (primary-dialect.ts). Its own host/port/user are only what it shows.
  const first = config.forHost(config.hosts[0]);
  const init = () =>
    MikroORM.init({
      ...sessionOrmOptions(),
      driver: PostgreSqlDriver,
      host: config.hosts[0].host,
      port: config.hosts[0].port,
      ...(first.user ? { user: first.user } : {}),
      dbName: config.database,
      // MikroORM would otherwise create a missing database silently: a typo in the URL would go unnoticed.
      ensureDatabase: false,
      pool: { min: 0, max: 10, acquireTimeoutMillis: CONNECT_TIMEOUT_MS, idleTimeoutMillis: 10_000 },
      driverOptions: {
        client: primaryDialect(primary),
        log: knexLogger(log),
        connection: { query_timeout: QUERY_TIMEOUT_MS },
      },
    });
  let orm = await init();
  let check = await orm.checkConnection();
  for (let attempt = 1; !check.ok && isTransient(check.error) && attempt < START_ATTEMPTS; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, START_RETRY_DELAY_MS));
    check = await orm.checkConnection();
  }
  if (!check.ok && (check.error as { code?: string } | undefined)?.code === INVALID_CATALOG_NAME) {
    await orm.close(true);
    if (!createDatabase) throw new MissingDatabaseError(config.database);
    await createPostgresDatabase(config);
    orm = await init();
    check = await orm.checkConnection();
  }
  if (!check.ok) {
    await orm.close(true).catch(() => {});
    if (isTransient(check.error)) {
      // Knex's own words ("the pool is probably full … missing a .transacting(trx) call?") would
      // send the operator after a bug in their code; the database simply did not answer.
      throw new Error(
        `no answer from PostgreSQL within ${CONNECT_TIMEOUT_MS} ms, ${START_ATTEMPTS} attempts (${check.reason})`,
        { cause: check.error },
      );
    }
    throw check.error ?? new Error(check.reason);
  }
  const opened = orm;
  return database(opened, 'postgresql', () => opened.close(true), prepared, primary, ssl);
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
  // A knex transaction, not `em.transactional`: MikroORM's runs its callback in an
  // AsyncLocalStorage, and the first `run()` of one turns on Node's promise hooks for the whole
  // process, for good: every promise of the host's app then cost about three times as much
  // (docs/benchmark.md, "What a migration left behind").
  const knex = (db.orm.em as unknown as SqlEntityManager).getKnex();
  return knex.transaction(async (trx) => {
    await knexStatements(trx).all('select pg_advisory_xact_lock(?, 0)', [ADVISORY_NAMESPACE.migrations]);
    return (await migrator.up({ transaction: trx })).map((m) => m.name);
  });
}
