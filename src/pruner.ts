import type { Timeouts } from './policy.js';
import { ADVISORY_NAMESPACE } from './store/locks.js';
import { Sql } from './store/session-store.js';
import type { Database } from './store/database.js';

/** Rows deleted per statement: small enough that no batch holds locks for long. */
export const PRUNE_BATCH_SIZE = 1_000;

export interface PruneResult {
  sessions: number;
  leases: number;
  /** False when another instance held the pruning lock and this one did nothing. */
  ran: boolean;
}

/**
 * Deletes revoked and expired sessions once they are older than `retention`, and dead leases,
 * in small batches. Each batch runs in its own transaction guarded by a try-lock, so only one
 * instance prunes at a time and a request never waits behind the job.
 */
export class Pruner {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<PruneResult> | undefined;

  constructor(
    private readonly db: Database,
    private readonly timeouts: Timeouts,
    private readonly retentionMs: number,
    private readonly leaseTtlMs: number,
    private readonly onError: (error: Error) => void,
  ) {}

  start(everyMs: number): void {
    this.timer = setInterval(() => {
      this.prune().catch((error: Error) => this.onError(error));
    }, everyMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running?.catch(() => {});
  }

  /** One full pass; concurrent calls on this instance share it. */
  prune(): Promise<PruneResult> {
    this.running ??= this.pass().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async pass(): Promise<PruneResult> {
    const total: PruneResult = { sessions: 0, leases: 0, ran: false };
    for (;;) {
      const batch = await this.batch();
      if (!batch.ran) return total;
      total.ran = true;
      total.sessions += batch.sessions;
      total.leases += batch.leases;
      if (batch.sessions < PRUNE_BATCH_SIZE && batch.leases < PRUNE_BATCH_SIZE) return total;
    }
  }

  private batch(): Promise<PruneResult> {
    return Sql.transaction(this.db.orm, async (sql) => {
      const lock = await sql.one<{ locked: boolean }>('select pg_try_advisory_xact_lock(?, 0) as locked', [
        ADVISORY_NAMESPACE.prune,
      ]);
      if (!lock?.locked) return { sessions: 0, leases: 0, ran: false };
      const { condition, params } = this.deadSessionCondition();
      const sessions = await sql.all(
        `delete from gsc_session where id in (select s.id from gsc_session s where ${condition} limit ?) returning id`,
        [...params, PRUNE_BATCH_SIZE],
      );
      const leases = await sql.all(
        `delete from gsc_lease where ctid in (
           select l.ctid from gsc_lease l
            where l.last_used_at < now() - (?::double precision * interval '1 millisecond')
               or not exists (select 1 from gsc_session s where s.id = l.session_id and s.revoked_at is null)
            limit ?) returning session_id`,
        [this.leaseTtlMs, PRUNE_BATCH_SIZE],
      );
      return { sessions: sessions.length, leases: leases.length, ran: true };
    });
  }

  /** Revoked, or expired, longer ago than the retention period (by the database clock). */
  private deadSessionCondition(): { condition: string; params: unknown[] } {
    const ms = `(?::double precision * interval '1 millisecond')`;
    const parts = [`s.revoked_at < now() - ${ms}`];
    const params: unknown[] = [this.retentionMs];
    if (this.timeouts.idleTimeoutMs !== null) {
      parts.push(`(s.revoked_at is null and s.last_seen_at < now() - ${ms})`);
      params.push(this.timeouts.idleTimeoutMs + this.retentionMs);
    }
    if (this.timeouts.absoluteTimeoutMs !== null) {
      parts.push(`(s.revoked_at is null and s.created_at < now() - ${ms})`);
      params.push(this.timeouts.absoluteTimeoutMs + this.retentionMs);
    }
    return { condition: `(${parts.join(' or ')})`, params };
  }
}
