import type { Timeouts } from '../vocabulary.js';
import { aliveCondition, MILLISECONDS } from './conditions.js';
import { ADVISORY_NAMESPACE } from './locks.js';
import type { SqlRunner } from './sql.js';

/** Sessions marked per sweep statement: small enough that no statement holds its row locks for long. */
export const SWEEP_BATCH_SIZE = 5_000;
/**
 * The sweep leaves a session counted this long after it expired: a touch that was on its way
 * (another instance served the session just before its expiry, and its flush is late) still
 * lands and keeps the session alive. A swept session takes no more touches.
 */
export const SWEEP_GRACE_MS = 10_000;

export interface SweepBatch {
  /** Sessions found expired and no longer counted. */
  swept: number;
  /** False when another instance held the sweep lock and this batch did nothing. */
  ran: boolean;
}

export interface Reconciliation {
  /** What the counter said, and what counting the rows said, in one snapshot. */
  counter: number;
  actual: number;
  /** Swept sessions that the current timeouts make alive again (a lengthened timeout), counted again. */
  revived: number;
}

/**
 * The app count's upkeep (docs/design.md, "The app count"). `gsc_app_counter` counts sessions that
 * are not revoked, not exempt and not swept, kept by triggers on every write to `gsc_session`.
 * Two things no trigger sees are handled here:
 *
 * - **Idle and absolute expiry** happen with no write at all: the sweep marks sessions the
 *   database clock says are expired (`swept_at`), and the trigger stops counting them. Between
 *   sweeps the counter is an upper bound of the live count, which is all admission needs (it
 *   counts exactly when the counter says the cap is reached).
 * - **Writes that bypassed the triggers** (a data-only restore with triggers disabled,
 *   `session_replication_role = replica`): the reconciliation counts the rows and the counter
 *   in one snapshot and adds the difference.
 */
export class AppCountStore {
  constructor(
    private readonly sql: SqlRunner,
    private readonly timeouts: Timeouts,
  ) {}

  /** The counter: sessions not revoked, not exempt and not swept (expired ones included until swept). */
  async counted(): Promise<number> {
    const row = await this.sql.one<{ n: string | number }>('select coalesce(sum(c.n), 0) as n from gsc_app_counter c');
    return Number(row!.n);
  }

  /** Marks up to one batch of expired, still counted sessions as swept; one instance at a time. */
  sweep(): Promise<SweepBatch> {
    if (this.timeouts.idleTimeoutMs === null && this.timeouts.absoluteTimeoutMs === null) {
      return Promise.resolve({ swept: 0, ran: true });
    }
    // Expired for longer than the grace: alive by timeouts lengthened by it.
    const alive = aliveCondition({
      idleTimeoutMs: this.timeouts.idleTimeoutMs === null ? null : this.timeouts.idleTimeoutMs + SWEEP_GRACE_MS,
      absoluteTimeoutMs:
        this.timeouts.absoluteTimeoutMs === null ? null : this.timeouts.absoluteTimeoutMs + SWEEP_GRACE_MS,
    });
    return this.sql.transaction(async (sql) => {
      const lock = await sql.one<{ locked: boolean }>('select pg_try_advisory_xact_lock(?, 1) as locked', [
        ADVISORY_NAMESPACE.prune,
      ]);
      if (!lock?.locked) return { swept: 0, ran: false };
      // The expiry test is repeated on the updated row itself, so a touch that committed meanwhile
      // (a session used again at the last moment) keeps its session counted.
      const expired = `s.revoked_at is null and s.exempt = false and s.swept_at is null and not (${alive.sql})`;
      const rows = await sql.all(
        `update gsc_session s set swept_at = now()
          where s.id in (select s.id from gsc_session s where ${expired} order by s.created_at limit ?)
            and ${expired}
          returning 1`,
        [...alive.params, SWEEP_BATCH_SIZE, ...alive.params],
      );
      return { swept: rows.length, ran: true };
    });
  }

  /**
   * Corrects the counter by what the rows say, both read in one snapshot (one statement), so
   * writes committing meanwhile are in both or in neither; the difference is then added, which
   * commutes with their own increments. Also counts again the swept sessions that the current
   * timeouts make alive (someone lengthened `idleTimeout`): a session swept within the last
   * timeout is the only kind that can be alive again.
   */
  async reconcile(): Promise<Reconciliation> {
    const { idleTimeoutMs, absoluteTimeoutMs } = this.timeouts;
    let revived = 0;
    const window =
      idleTimeoutMs === null || absoluteTimeoutMs === null ? null : Math.max(idleTimeoutMs, absoluteTimeoutMs);
    if (idleTimeoutMs !== null || absoluteTimeoutMs !== null) {
      const alive = aliveCondition(this.timeouts);
      for (;;) {
        const rows = await this.sql.all(
          `update gsc_session s set swept_at = null
            where s.id in (select s.id from gsc_session s
                            where s.swept_at is not null and s.revoked_at is null
                              and (? or s.swept_at > now() - ${MILLISECONDS}) and ${alive.sql} limit ?)
              and s.swept_at is not null and ${alive.sql}
            returning 1`,
          [window === null, window ?? 0, ...alive.params, SWEEP_BATCH_SIZE, ...alive.params],
        );
        revived += rows.length;
        if (rows.length < SWEEP_BATCH_SIZE) break;
      }
    }
    const row = await this.sql.one<{ counter: string | number; actual: string | number }>(
      `select (select coalesce(sum(c.n), 0) from gsc_app_counter c) as counter,
              (select count(*) from gsc_session s where s.revoked_at is null and s.exempt = false and s.swept_at is null) as actual`,
    );
    const counter = Number(row!.counter);
    const actual = Number(row!.actual);
    if (counter !== actual) {
      await this.sql.all('update gsc_app_counter set n = n + ? where shard = 0', [actual - counter]);
    }
    return { counter, actual, revived };
  }
}
