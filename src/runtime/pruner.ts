/**
 * Deletes what `retention` lets go (old sessions, dead leases) in short batches, on one instance
 * at a time, so old rows do not pile up.
 */
import { PRUNE_BATCH_SIZE, type PruneBatches } from '../store/prune-batches.js';

/** Rows a pass deleted so far, and whether another batch follows. */
export interface PruneProgress {
  sessions: number;
  leases: number;
  more: boolean;
}

export interface PruneResult {
  sessions: number;
  leases: number;
  /** False when another instance held the pruning lock and this one did nothing. */
  ran: boolean;
}

/**
 * Deletes revoked and expired sessions once they are older than `retention`, and dead leases,
 * batch after batch (docs/contract.md rule 10), every `pruneInterval` and on demand.
 */
export class Pruner {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<PruneResult> | undefined;

  constructor(
    private readonly pruning: PruneBatches,
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

  /**
   * One full pass; concurrent calls on this instance share it. `onBatch` hears the running totals
   * after every batch, and whether another follows (a long pass, e.g. the first after a retention
   * change, shows progress).
   */
  prune(onBatch?: (progress: PruneProgress) => void): Promise<PruneResult> {
    this.running ??= this.pass(onBatch).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** What a pass would delete now, without deleting anything. */
  prunable(): Promise<{ sessions: number; leases: number }> {
    return this.pruning.count();
  }

  private async pass(onBatch?: (progress: PruneProgress) => void): Promise<PruneResult> {
    const total: PruneResult = { sessions: 0, leases: 0, ran: false };
    for (;;) {
      const batch = await this.pruning.batch();
      if (!batch.ran) return total;
      total.ran = true;
      total.sessions += batch.sessions;
      total.leases += batch.leases;
      const more =
        batch.sessions >= PRUNE_BATCH_SIZE ||
        batch.leases >= PRUNE_BATCH_SIZE ||
        batch.tombstones.expired >= PRUNE_BATCH_SIZE;
      onBatch?.({ sessions: total.sessions, leases: total.leases, more });
      if (!more) return total;
    }
  }
}
