/**
 * The app count's SQL: sweeping expired sessions out of the sharded counter, and reconciling it
 * with the rows.
 */
import type { Timeouts } from '../vocabulary.js';
import { aliveCondition, MILLISECONDS } from './conditions.js';
import { ADVISORY_NAMESPACE } from './locks.js';
import type { SqlRunner } from './sql.js';

/**
 * Counted sessions one sweep statement looks at (in creation order, from a cursor): a pass over
 * all of them is spread over many short statements, so the sweep never holds a core for long.
 */
const SWEEP_BATCH_SIZE = 10_000;
/**
 * The sweep leaves a session counted this long after it expired: a touch that was on its way
 * (another instance served the session just before its expiry, and its flush is late) still
 * lands and keeps the session alive. A swept session takes no more touches.
 */
const SWEEP_GRACE_MS = 10_000;

/** Where a sweep pass stands: the last counted session it looked at, by (created_at, id). */
export interface SweepCursor {
  /** `created_at` in UTC with microseconds (a JavaScript Date keeps only milliseconds). */
  createdAt: string;
  id: string;
}

export interface SweepBatch {
  /** Sessions found expired and no longer counted. */
  swept: number;
  /** Counted sessions looked at. */
  scanned: number;
  /** Where the next batch of this pass starts; `null` when the pass is done. */
  next: SweepCursor | null;
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
export class AppCountTable {
  constructor(
    private readonly sql: SqlRunner,
    private readonly timeouts: Timeouts,
  ) {}

  /** The counter: sessions not revoked, not exempt and not swept (expired ones included until swept). */
  async counted(): Promise<number> {
    const row = await this.sql.one<{ n: string | number }>('select coalesce(sum(c.n), 0) as n from gsc_app_counter c');
    return Number(row!.n);
  }

  /**
   * Looks at the next batch of counted sessions after `after` (in creation order) and marks the
   * expired ones swept; one instance at a time.
   */
  sweep(after: SweepCursor | null = null): Promise<SweepBatch> {
    if (this.timeouts.idleTimeoutMs === null && this.timeouts.absoluteTimeoutMs === null) {
      return Promise.resolve({ swept: 0, scanned: 0, next: null, ran: true });
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
      if (!lock?.locked) return { swept: 0, scanned: 0, next: null, ran: false };
      // The expiry test is repeated on the updated row itself, so a touch that committed meanwhile
      // (a session used again at the last moment) keeps its session counted.
      const [row] = await sql.all<{ swept: string | number; scanned: string | number; last: SweepCursor | null }>(
        `with scanned as (
           select s.id, s.created_at, not (${alive.sql}) as expired
             from gsc_session s
            where s.revoked_at is null and s.exempt = false and s.swept_at is null
              and (? or (s.created_at, s.id) > (?::timestamptz, ?::uuid))
            order by s.created_at, s.id
            limit ?),
         swept as (
           update gsc_session s set swept_at = now()
             from scanned x
            where s.id = x.id and x.expired
              and s.revoked_at is null and s.exempt = false and s.swept_at is null and not (${alive.sql})
           returning 1)
         select (select count(*) from swept) as swept, (select count(*) from scanned) as scanned,
                (select json_build_object('createdAt', to_char(x.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), 'id', x.id)
                   from scanned x order by x.created_at desc, x.id desc limit 1) as last`,
        [
          ...alive.params,
          after === null,
          after?.createdAt ?? '1970-01-01T00:00:00Z',
          after?.id ?? '00000000-0000-0000-0000-000000000000',
          SWEEP_BATCH_SIZE,
          ...alive.params,
        ],
      );
      const scanned = Number(row.scanned);
      return { swept: Number(row.swept), scanned, next: scanned < SWEEP_BATCH_SIZE ? null : row.last, ran: true };
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
