// The pool's knex dialect: MikroORM's PostgreSQL dialect, except that every new pooled connection
// is opened by the PrimaryLocator (the URL's settings, on whichever host is the primary now), and
// knex's own log lines go through the library's logger in the library's words.
import { PostgreSqlKnexDialect } from '@mikro-orm/postgresql';
import type pg from 'pg';
import type { PrimaryLocator } from './primary-locator.js';

/** Where knex's lines go (the library's `Log`). */
export interface KnexLog {
  warn(message: string): void;
}

/** The parts of knex's client this subclass uses; knex's declarations do not list them. */
interface KnexPgClient {
  driver: { Client: new (settings: pg.ClientConfig) => pg.Client };
  connectionSettings: pg.ClientConfig;
  config: { pool?: { acquireTimeoutMillis?: number; max?: number } };
}

type Disposable = pg.Client & { __knex__disposed?: unknown };

/** A dialect class for `driverOptions.client`: knex builds the pool's connections with it. */
export function primaryDialect(locator: PrimaryLocator): typeof PostgreSqlKnexDialect {
  class PrimaryPostgreSqlDialect extends PostgreSqlKnexDialect {
    // knex's own method (dialects/postgres): one new connection for the pool.
    _acquireOnlyConnection(): Promise<pg.Client> {
      const knex = this as unknown as KnexPgClient;
      return locator.connect((settings) => {
        // knex's settings carry MikroORM's type parsers and the query timeout; the URL's win for the rest.
        const connection: Disposable = new knex.driver.Client({ ...knex.connectionSettings, ...settings });
        // What knex's own method does: a connection that failed or ended is dropped at its next use.
        connection.on('error', (error) => {
          connection.__knex__disposed = error;
        });
        connection.on('end', () => {
          connection.__knex__disposed ??= 'Connection ended unexpectedly';
        });
        return connection;
      });
    }

    async acquireConnection(): Promise<unknown> {
      try {
        return await super.acquireConnection();
      } catch (error) {
        if ((error as Error).name !== 'KnexTimeoutError') throw error;
        // knex says "The pool is probably full. Are you missing a .transacting(trx) call?": it
        // sends the operator after a bug in their code, when mostly the database did not answer.
        const { acquireTimeoutMillis, max } = (this as unknown as KnexPgClient).config.pool ?? {};
        const renamed = new Error(
          `Timeout acquiring a connection after ${acquireTimeoutMillis ?? '?'} ms: PostgreSQL did not answer in time, ` +
            `or all ${max ?? '?'} pooled connections stayed busy`,
          { cause: error },
        );
        renamed.name = 'KnexTimeoutError';
        throw renamed;
      }
    }
  }
  return PrimaryPostgreSqlDialect;
}

/**
 * knex's logger (`log` of its config): its "Connection Error: …" when it drops a pooled connection
 * that failed, said once per connection as a warning through the library's logger.
 */
export function knexLogger(log: KnexLog): Record<'warn' | 'error' | 'deprecate' | 'debug', (message: unknown) => void> {
  const say = (message: unknown) => {
    const text = String(message);
    const lost = /^Connection Error: (.*)$/s.exec(text);
    log.warn(
      lost ? `a pooled PostgreSQL connection was lost and is replaced (${lost[1]})` : `database driver: ${text}`,
    );
  };
  return { warn: say, error: say, deprecate: say, debug: () => {} };
}
