import type { EntityManager } from '@mikro-orm/core';
import type { EntityManager as SqlEntityManager } from '@mikro-orm/postgresql';

/**
 * Like `Sql`, but the values travel as real bind parameters instead of being spliced into the
 * SQL text. The session API passes user-supplied strings (user ids, notes, group names), and
 * spliced text containing `;` makes the embedded driver (knex-pglite) run the statement in
 * multi-statement mode, which changes the result's shape: a note such as "lost phone; reported"
 * would then fail the request. Bound values never reach the SQL text, so no value can.
 */
/** What the query modules need: `Sql` and `BoundSql` both provide it. */
export interface Queryable {
  all<T>(sql: string, params?: unknown[]): Promise<T[]>;
  one<T>(sql: string, params?: unknown[]): Promise<T | undefined>;
}

export class BoundSql implements Queryable {
  constructor(private readonly em: EntityManager) {}

  async all<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    const knex = (this.em as unknown as SqlEntityManager).getKnex();
    const result = (await knex.raw(sql, params as never[])) as { rows: T[] };
    return result.rows;
  }

  async one<T>(sql: string, params: unknown[] = []): Promise<T | undefined> {
    return (await this.all<T>(sql, params))[0];
  }
}
