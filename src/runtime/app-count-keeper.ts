import { type AppCountStore, type Reconciliation, SWEEP_BATCH_SIZE } from '../store/app-count-store.js';

/** How often the sweep looks for expired sessions still counted: the counter's lag behind expiry. */
export const SWEEP_EVERY_MS = 30_000;
/** How often the counter is checked against the rows (writes that bypassed the triggers). */
export const RECONCILE_EVERY_MS = 10 * 60_000;

/**
 * Keeps the app count close to the live count on instances that enforce an app cap: sweeps
 * expired sessions out of it every `SWEEP_EVERY_MS` (one instance at a time), and reconciles it
 * with the rows every `RECONCILE_EVERY_MS` (docs/design.md, "The app count").
 */
export class AppCountKeeper {
  private sweepTimer: NodeJS.Timeout | undefined;
  private reconcileTimer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(
    private readonly store: AppCountStore,
    private readonly onError: (operation: string, error: Error) => void,
  ) {}

  start(): void {
    // Rows kept from before the counter existed may hold many expired sessions: sweep at once.
    void this.run(() => this.sweep(), 'sweep');
    this.sweepTimer = setInterval(() => void this.run(() => this.sweep(), 'sweep'), SWEEP_EVERY_MS);
    this.sweepTimer.unref();
    this.reconcileTimer = setInterval(() => void this.run(() => this.reconcile(), 'reconcile'), RECONCILE_EVERY_MS);
    this.reconcileTimer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.sweepTimer);
    clearInterval(this.reconcileTimer);
    await this.running?.catch(() => {});
  }

  /** One full sweep: batch after batch until the expired sessions are all out of the count. */
  async sweep(): Promise<number> {
    let swept = 0;
    for (;;) {
      const batch = await this.store.sweep();
      swept += batch.swept;
      if (!batch.ran || batch.swept < SWEEP_BATCH_SIZE) return swept;
    }
  }

  reconcile(): Promise<Reconciliation> {
    return this.store.reconcile();
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
