/**
 * Keeps the app count near the live count on app-capped instances: expiry writes no row, so a
 * sweep takes expired sessions out of it, and a reconciliation corrects drift.
 */
import type { AppCountTable, Reconciliation, SweepCursor } from '../store/app-count-table.js';

/** How often a sweep pass starts (after the previous one ends): the counter's lag behind expiry. */
const SWEEP_EVERY_MS = 30_000;
/** The pause between two batches of one pass, so that a pass over many sessions is spread out. */
const SWEEP_PAUSE_MS = 50;
/** How often the counter is checked against the rows (writes that bypassed the triggers). */
const RECONCILE_EVERY_MS = 10 * 60_000;

/**
 * Keeps the app count close to the live count on instances that enforce an app cap: sweeps
 * expired sessions out of it every `SWEEP_EVERY_MS` (one instance at a time), and reconciles it
 * with the rows every `RECONCILE_EVERY_MS` (docs/design.md, "The app count").
 */
export class AppCountKeeper {
  private sweepTimer: NodeJS.Timeout | undefined;
  private reconcileTimer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = false;

  constructor(
    private readonly table: AppCountTable,
    private readonly onError: (operation: string, error: Error) => void,
  ) {}

  start(): void {
    // Rows kept from before the counter existed may hold many expired sessions: sweep at once.
    void this.run(() => this.sweep(SWEEP_PAUSE_MS), 'sweep');
    this.sweepTimer = setInterval(() => void this.run(() => this.sweep(SWEEP_PAUSE_MS), 'sweep'), SWEEP_EVERY_MS);
    this.sweepTimer.unref();
    this.reconcileTimer = setInterval(() => void this.run(() => this.reconcile(), 'reconcile'), RECONCILE_EVERY_MS);
    this.reconcileTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.sweepTimer);
    clearInterval(this.reconcileTimer);
    await this.running?.catch(() => {});
  }

  /**
   * One pass: every counted session looked at once, batch after batch (`SWEEP_BATCH_SIZE` each, a
   * pause between them); returns how many were found expired. `pauseMs` 0 for tests.
   */
  async sweep(pauseMs = 0): Promise<number> {
    let swept = 0;
    let after: SweepCursor | null = null;
    for (;;) {
      const batch = await this.table.sweep(after);
      swept += batch.swept;
      if (!batch.ran || !batch.next || this.stopped) return swept;
      after = batch.next;
      if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs).unref());
    }
  }

  reconcile(): Promise<Reconciliation> {
    return this.table.reconcile();
  }

  /** Background work never overlaps itself on one instance, and never throws out of a timer. */
  private async run(work: () => Promise<unknown>, operation: string): Promise<void> {
    if (this.running) return;
    this.running = work();
    try {
      await this.running;
    } catch (error) {
      this.onError(operation, error as Error);
    } finally {
      this.running = undefined;
    }
  }
}
