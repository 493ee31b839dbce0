import type { Timeouts } from '../vocabulary.js';
import { deadCondition, MILLISECONDS } from './conditions.js';
import { ADVISORY_NAMESPACE } from './locks.js';
import type { SqlRunner } from './sql.js';

/** Rows deleted per statement: small enough that no batch holds locks for long. */
export const PRUNE_BATCH_SIZE = 1_000;

export interface PruneBatch {
  sessions: number;
  leases: number;
  /** False when another instance held the pruning lock and this batch did nothing. */
  ran: boolean;
}

/**
 * The pruning job's statements: one batch per transaction, guarded by a try-lock so only one
 * instance prunes at a time and a request never waits behind the job.
 */
export class PruneStore {
  constructor(
    private readonly sql: SqlRunner,
    private readonly timeouts: Timeouts,
    private readonly retentionMs: number,
    private readonly leaseTtlMs: number,
  ) {}

  /** What the batches would delete now, counted without deleting (`prune --dry-run`). */
  async count(): Promise<{ sessions: number; leases: number }> {
    const dead = deadCondition(this.timeouts, this.retentionMs);
    const row = await this.sql.one<{ sessions: number | string; leases: number | string }>(
      `select (select count(*) from gsc_session s where ${dead.sql}) as sessions,
              (select count(*) from gsc_lease l
                where l.last_used_at < now() - ${MILLISECONDS}
                   or not exists (select 1 from gsc_session s where s.id = l.session_id and s.revoked_at is null)) as leases`,
      [...dead.params, this.leaseTtlMs],
    );
    return { sessions: Number(row!.sessions), leases: Number(row!.leases) };
  }

  /** Deletes up to one batch of dead sessions and one of dead leases. */
  batch(): Promise<PruneBatch> {
    return this.sql.transaction(async (sql) => {
      const lock = await sql.one<{ locked: boolean }>('select pg_try_advisory_xact_lock(?, 0) as locked', [
        ADVISORY_NAMESPACE.prune,
      ]);
      if (!lock?.locked) return { sessions: 0, leases: 0, ran: false };
      const dead = deadCondition(this.timeouts, this.retentionMs);
      const sessions = await sql.all(
        `delete from gsc_session where id in (select s.id from gsc_session s where ${dead.sql} limit ?) returning id`,
        [...dead.params, PRUNE_BATCH_SIZE],
      );
      const leases = await sql.all(
        `delete from gsc_lease where ctid in (
           select l.ctid from gsc_lease l
            where l.last_used_at < now() - ${MILLISECONDS}
               or not exists (select 1 from gsc_session s where s.id = l.session_id and s.revoked_at is null)
            limit ?) returning session_id`,
        [this.leaseTtlMs, PRUNE_BATCH_SIZE],
      );
      return { sessions: sessions.length, leases: leases.length, ran: true };
    });
  }
}
