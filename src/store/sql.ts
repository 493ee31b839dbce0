import type { MikroORM } from '@mikro-orm/core';
import type { EntityManager as SqlEntityManager, Knex } from '@mikro-orm/postgresql';

/**
 * Parameterized statements. Values travel as real bind parameters (`?` becomes `$n`), never
 * spliced into the SQL text: no value can change a statement, and the embedded driver (which
 * switches to multi-statement mode on any `;` in the text) sees a single statement whatever the
 * data. Every statement of the store goes through this interface, in one style.
 */
export interface Sql {
  all<T>(text: string, params?: unknown[]): Promise<T[]>;
  one<T>(text: string, params?: unknown[]): Promise<T | undefined>;
}

/** Statements on the pool, and transactions: everything a store module needs. */
export interface SqlRunner extends Sql {
  /**
   * One transaction: committed when `work` resolves, rolled back when it throws. Every statement
   * of `work` runs on the transaction's connection: PGlite has one connection, so nothing inside
   * a transaction may wait on a second.
   */
  transaction<T>(work: (sql: Sql) => Promise<T>): Promise<T>;
}

type Rows = (text: string, values: unknown[]) => Promise<unknown[]>;

class Statements implements Sql {
  constructor(private readonly rows: Rows) {}

  async all<T>(text: string, params: unknown[] = []): Promise<T[]> {
    return (await this.rows(text, params)) as T[];
  }

  async one<T>(text: string, params: unknown[] = []): Promise<T | undefined> {
    return (await this.all<T>(text, params))[0];
  }
}

/**
 * The one place where the two databases differ in how statements run.
 *
 * Embedded (PGlite): through the ORM's knex, which numbers `?` itself; its one connection
 * serializes everything.
 *
 * PostgreSQL: on node-postgres connections borrowed from the same pool (same limits and
 * timeouts), skipping knex's query builder and the EntityManager. The store reads and writes no
 * entities, and measured on this project's machine a three-statement transaction ran 4,100/s
 * that way against 1,650–2,250/s through knex (962/s through a forked EntityManager); admissions
 * are exactly such transactions (docs/benchmark.md).
 */
export function sqlRunner(orm: MikroORM, kind: 'postgresql' | 'embedded'): SqlRunner {
  // Looked up at every use: a host that closes and reconnects its ORM gets a new knex.
  const knex = () => (orm.em as unknown as SqlEntityManager).getKnex();
  return kind === 'embedded' ? knexRunner(knex) : poolRunner(knex);
}

/** Statements on a knex runner or a knex transaction (migrations use it inside the migrator's). */
export function knexStatements(runner: Knex | Knex.Transaction): Sql {
  return new Statements(async (text, values) => ((await runner.raw(text, values as never[])) as { rows: unknown[] }).rows);
}

function knexRunner(knex: () => Knex): SqlRunner {
  return {
    all: (text, params) => knexStatements(knex()).all(text, params),
    one: (text, params) => knexStatements(knex()).one(text, params),
    transaction: (work) => knex().transaction((trx) => work(knexStatements(trx))),
  };
}

/** A PostgreSQL connection as node-postgres gives it (the pool under MikroORM's knex). */
interface PgConnection {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}

function poolRunner(knex: () => Knex): SqlRunner {
  /** Borrows a connection and always gives it back. */
  const withConnection = async <T>(use: (connection: PgConnection) => Promise<T>): Promise<T> => {
    const client = knex().client as unknown as {
      acquireConnection(): Promise<PgConnection>;
      releaseConnection(connection: PgConnection): Promise<void>;
    };
    const connection = await client.acquireConnection();
    try {
      return await use(connection);
    } finally {
      await client.releaseConnection(connection);
    }
  };
  const on = (connection: PgConnection) =>
    new Statements(async (text, values) => (await connection.query(numbered(text), values)).rows);
  const pool = new Statements((text, values) => withConnection(async (connection) => (await connection.query(numbered(text), values)).rows));
  return {
    all: (text, params) => pool.all(text, params),
    one: (text, params) => pool.one(text, params),
    transaction: (work) =>
      withConnection(async (connection) => {
        await connection.query('begin');
        try {
          const result = await work(on(connection));
          await connection.query('commit');
          return result;
        } catch (error) {
          // A dead connection cannot roll back; the pool discards it, and the server ends the transaction.
          await connection.query('rollback').catch(() => {});
          throw error;
        }
      }),
  };
}

/**
 * The store writes `?` placeholders (one style for both drivers); node-postgres wants `$1…`.
 * No statement of the store has a `?` inside a literal or uses a jsonb `?` operator, so each
 * `?` is a parameter. knex does the same translation on the embedded path.
 */
const numberedCache = new Map<string, string>();
function numbered(sql: string): string {
  let text = numberedCache.get(sql);
  if (text === undefined) {
    let n = 0;
    text = sql.replace(/\?/g, () => `$${++n}`);
    if (numberedCache.size < 1_000) numberedCache.set(sql, text);
  }
  return text;
}
