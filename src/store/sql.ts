/**
 * The one runner every statement goes through: bind parameters, never spliced values, and the
 * only place PGlite and PostgreSQL differ in running SQL.
 */
import { createHash } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/core';
import type { Knex, EntityManager as SqlEntityManager } from '@mikro-orm/postgresql';

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

/**
 * A fixed statement run often enough that parsing and planning it on every call shows (the
 * admission, the key look-up): on PostgreSQL it is prepared once per connection, as a named
 * statement, unless prepared statements are off. Its text must never be built from data.
 */
export interface PreparedSql {
  one<T>(params: unknown[]): Promise<T | undefined>;
}

/** Statements on the pool, and transactions: everything a store module needs. */
export interface SqlRunner extends Sql {
  /**
   * One transaction: committed when `work` resolves, rolled back when it throws. Every statement
   * of `work` runs on the transaction's connection: PGlite has one connection, so nothing inside
   * a transaction may wait on a second.
   */
  transaction<T>(work: (sql: Sql) => Promise<T>): Promise<T>;
  /** A statement to run outside transactions, prepared where the database allows (see `PreparedSql`). */
  prepare(text: string): PreparedSql;
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
export function sqlRunner(
  orm: MikroORM,
  kind: 'postgresql' | 'embedded',
  { preparedStatements = true, onPreparedOff = () => {} }: PreparedOptions = {},
): SqlRunner {
  // Looked up at every use: a host that closes and reconnects its ORM gets a new knex.
  const knex = () => (orm.em as unknown as SqlEntityManager).getKnex();
  return kind === 'embedded' ? knexRunner(knex) : poolRunner(knex, { preparedStatements, onPreparedOff });
}

export interface PreparedOptions {
  /** Option `preparedStatements`: name the hot statements (default true). */
  preparedStatements?: boolean;
  /** Called once if the server refuses a named statement and the runner stops naming them. */
  onPreparedOff?: (error: Error) => void;
}

/** Statements on a knex runner or a knex transaction (migrations use it inside the migrator's). */
export function knexStatements(runner: Knex | Knex.Transaction): Sql {
  return new Statements(
    async (text, values) => ((await runner.raw(text, values as never[])) as { rows: unknown[] }).rows,
  );
}

function knexRunner(knex: () => Knex): SqlRunner {
  return {
    all: (text, params) => knexStatements(knex()).all(text, params),
    one: (text, params) => knexStatements(knex()).one(text, params),
    transaction: (work) => knex().transaction((trx) => work(knexStatements(trx))),
    // PGlite runs in-process: there is no per-statement round trip or parse worth saving.
    prepare: (text) => ({ one: (params) => knexStatements(knex()).one(text, params) }),
  };
}

/** A PostgreSQL connection as node-postgres gives it (the pool under MikroORM's knex). */
interface PgConnection {
  query(
    text: string | { name: string; text: string; values: unknown[] },
    values?: unknown[],
  ): Promise<{ rows: unknown[] }>;
  /** Set to make knex's pool destroy the connection instead of lending it again. */
  __knex__disposed?: unknown;
  connection?: { stream?: { destroy(): void } };
}

/** How long a rollback may take before the connection is given up instead. */
const ROLLBACK_DEADLINE_MS = 1_000;

/**
 * Whether the server answered the statement: a SQL error carries its SQLSTATE `code`. Anything
 * else (node-postgres' client-side `query_timeout`, a broken socket) leaves the protocol state
 * unknown: the statement may still run, and its answer would be read as the next statement's.
 */
function serverAnswered(error: unknown): boolean {
  return (
    typeof (error as { code?: unknown } | null)?.code === 'string' &&
    /^[0-9A-Z]{5}$/.test((error as { code: string }).code)
  );
}

/**
 * Takes a connection out of service: the pool destroys it instead of lending it again, and its
 * socket is closed now, so the server ends whatever transaction it held (never left idle in it).
 */
function discard(connection: PgConnection, reason: unknown): void {
  connection.__knex__disposed = reason instanceof Error ? reason.message : String(reason);
  connection.connection?.stream?.destroy();
}

/**
 * SQLSTATEs that mean a named statement is not where the client thinks it is: a pooler in
 * transaction mode (PgBouncer before 1.21, or without `max_prepared_statements`) hands each
 * statement to whichever server connection is free, and a reset (`DISCARD ALL`) drops them.
 * Both are raised before the statement runs, so running it again unnamed is safe.
 */
const PREPARED_STATEMENT_MISSING = '26000';
const PREPARED_STATEMENT_EXISTS = '42P05';

/** A statement's name on the server: the same text gets the same name on every instance and version. */
function statementName(text: string): string {
  return `gsc_${createHash('sha1').update(text).digest('hex').slice(0, 16)}`;
}

function poolRunner(knex: () => Knex, { preparedStatements, onPreparedOff }: Required<PreparedOptions>): SqlRunner {
  let naming = preparedStatements;
  /** Borrows a connection and always gives it back, or discards it when its state is unknown. */
  const withConnection = async <T>(use: (connection: PgConnection) => Promise<T>): Promise<T> => {
    const client = knex().client as unknown as {
      acquireConnection(): Promise<PgConnection>;
      releaseConnection(connection: PgConnection): Promise<void>;
    };
    const connection = await client.acquireConnection();
    try {
      return await use(connection);
    } catch (error) {
      if (!serverAnswered(error)) discard(connection, error);
      throw error;
    } finally {
      await client.releaseConnection(connection);
    }
  };
  const on = (connection: PgConnection) =>
    new Statements(async (text, values) => (await connection.query(numbered(text), values)).rows);
  const pool = new Statements((text, values) =>
    withConnection(async (connection) => (await connection.query(numbered(text), values)).rows),
  );
  const prepare = (sql: string): PreparedSql => {
    const text = numbered(sql);
    const name = statementName(text);
    const unnamed = (values: unknown[]) =>
      withConnection(async (connection) => (await connection.query(text, values)).rows);
    const run = async (values: unknown[]): Promise<unknown[]> => {
      if (!naming) return unnamed(values);
      try {
        return await withConnection(async (connection) => (await connection.query({ name, text, values })).rows);
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (code !== PREPARED_STATEMENT_MISSING && code !== PREPARED_STATEMENT_EXISTS) throw error;
        // Named statements do not survive this path to the server: stop naming, for good.
        if (naming) {
          naming = false;
          onPreparedOff(error as Error);
        }
        return unnamed(values);
      }
    };
    return { one: async <T>(values: unknown[]) => (await run(values))[0] as T | undefined };
  };
  return {
    all: (text, params) => pool.all(text, params),
    one: (text, params) => pool.one(text, params),
    prepare,
    transaction: (work) =>
      withConnection(async (connection) => {
        try {
          await connection.query('begin');
          const result = await work(on(connection));
          await connection.query('commit');
          return result;
        } catch (error) {
          // A statement the server refused leaves a transaction to roll back; anything else (a
          // timeout, a broken link) leaves the connection in an unknown state: withConnection
          // discards it. A rollback that does not come back quickly gets the same treatment.
          if (serverAnswered(error) && !(await rolledBack(connection))) discard(connection, error);
          throw error;
        }
      }),
  };
}

async function rolledBack(connection: PgConnection): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ROLLBACK_DEADLINE_MS);
  });
  try {
    return await Promise.race([
      connection.query('rollback').then(
        () => true as const,
        () => false as const,
      ),
      deadline,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The store writes `?` placeholders (one style for both drivers); node-postgres wants `$1…`.
 * No statement of the store has a `?` inside a literal or uses a jsonb `?` operator, so each
 * `?` is a parameter. knex does the same translation on the embedded path.
 */
const numberedCache = new Map<string, string>();
export function numbered(sql: string): string {
  let text = numberedCache.get(sql);
  if (text === undefined) {
    let n = 0;
    text = sql.replace(/\?/g, () => `$${++n}`);
    if (numberedCache.size < 1_000) numberedCache.set(sql, text);
  }
  return text;
}
