/**
 * The SQL of pruning: old sessions and dead leases deleted in batches, a revoked key's tombstone
 * kept so that the key stays refused.
 */
import type { Timeouts } from '../vocabulary.js';
import { deadCondition, MILLISECONDS } from './conditions.js';
import { ADVISORY_NAMESPACE } from './locks.js';
import type { SqlRunner } from './sql.js';

/**
 * Until when a pruned revoked key stays refused: its own expiry, else `tombstoneTtl` after the
 * revocation, else (the option `null`: the bound value is null) for ever.
 */
const UNTIL = `coalesce(d.key_expires_at, d.revoked_at + ${MILLISECONDS}, 'infinity'::timestamptz)`;

/** Rows deleted per statement: small enough that no batch holds locks for long. */
export const PRUNE_BATCH_SIZE = 1_000;

export interface PruneBatch {
  sessions: number;
  leases: number;
  /** Revoked keys whose pruned rows left a tombstone, and tombstones deleted because their key can no longer be valid. */
  tombstones: { kept: number; expired: number };
  /** False when another instance held the pruning lock and this batch did nothing. */
  ran: boolean;
}

/**
 * The pruning job's statements: one batch per transaction, guarded by a try-lock so only one
 * instance prunes at a time and a request never waits behind the job.
 */
export class PruneBatches {
  constructor(
    private readonly sql: SqlRunner,
    private readonly timeouts: Timeouts,
    private readonly retentionMs: number,
    private readonly leaseTtlMs: number,
    /** `tombstoneTtl`: how long after its revocation a key without `expiresAt` stays refused; `null`: for ever. */
    private readonly tombstoneTtlMs: number | null,
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
      if (!lock?.locked) return { sessions: 0, leases: 0, tombstones: { kept: 0, expired: 0 }, ran: false };
      const dead = deadCondition(this.timeouts, this.retentionMs);
      // A revoked key's row leaves a tombstone (its digest, the reason, until when) in the same
      // statement, so there is no moment when the key is unknown (docs/contract.md rule 5). A key
      // with no known expiry and no `tombstoneTtl` stays refused for ever ('infinity').
      const [pruned] = await sql.all<{ sessions: string | number; kept: string | number }>(
        `with dead as (
           delete from gsc_session where id in (select s.id from gsc_session s where ${dead.sql} limit ?)
           returning key_hash, revoked_at, revoked_reason, key_expires_at),
         kept as (
           insert into gsc_tombstone as t (key_hash, reason, expires_at)
           select d.key_hash, coalesce(d.revoked_reason, 'REVOKED'), ${UNTIL}
             from dead d
            where d.revoked_at is not null and ${UNTIL} > now()
           on conflict (key_hash) do update set expires_at = greatest(t.expires_at, excluded.expires_at)
           returning 1)
         select (select count(*) from dead) as sessions, (select count(*) from kept) as kept`,
        [...dead.params, PRUNE_BATCH_SIZE, this.tombstoneTtlMs, this.tombstoneTtlMs],
      );
      const expiredTombstones = await sql.all(
        `delete from gsc_tombstone where ctid in (
           select t.ctid from gsc_tombstone t where t.expires_at <= now() limit ?) returning 1`,
        [PRUNE_BATCH_SIZE],
      );
      const leases = await sql.all(
        `delete from gsc_lease where ctid in (
           select l.ctid from gsc_lease l
            where l.last_used_at < now() - ${MILLISECONDS}
               or not exists (select 1 from gsc_session s where s.id = l.session_id and s.revoked_at is null)
            limit ?) returning session_id`,
        [this.leaseTtlMs, PRUNE_BATCH_SIZE],
      );
      return {
        sessions: Number(pruned.sessions),
        leases: leases.length,
        tombstones: { kept: Number(pruned.kept), expired: expiredTombstones.length },
        ran: true,
      };
    });
  }
}
