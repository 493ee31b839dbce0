/**
 * Collects `lastSeenAt` touches and writes them in one statement per flush, so the hot path
 * never waits on the database and a busy session costs one write per `touchInterval`.
 */
export class TouchBatcher {
  private pending = new Map<string, Date>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly write: (entries: Array<{ id: string; at: Date }>) => Promise<void>,
    private readonly flushEveryMs: number,
    private readonly onError: (error: Error) => void,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.flushEveryMs);
    // A pending flush must not keep a process alive that is otherwise done.
    this.timer.unref();
  }

  add(sessionId: string, at: Date): void {
    this.pending.set(sessionId, at);
  }

  get size(): number {
    return this.pending.size;
  }

  /** Writes what is pending; a failed batch is kept (newer touches win) and retried on the next flush. */
  async flush(): Promise<void> {
    if (this.flushing) await this.flushing;
    if (!this.pending.size) return;
    const batch = this.pending;
    this.pending = new Map();
    this.flushing = this.write([...batch].map(([id, at]) => ({ id, at })))
      .catch((error: Error) => {
        for (const [id, at] of batch) if (!this.pending.has(id)) this.pending.set(id, at);
        this.onError(error);
      })
      .finally(() => {
        this.flushing = undefined;
      });
    await this.flushing;
  }

  /**
   * Stops the timer and writes what is pending, retrying until `deadlineMs` (a store that is
   * briefly away at shutdown loses nothing). Returns how many touches could not be written.
   */
  async stop(deadlineMs = 0): Promise<number> {
    clearInterval(this.timer);
    const deadline = Date.now() + deadlineMs;
    for (;;) {
      await this.flush();
      if (!this.pending.size || Date.now() >= deadline) return this.pending.size;
      await new Promise((resolve) => setTimeout(resolve, Math.min(STOP_RETRY_MS, Math.max(0, deadline - Date.now()))));
    }
  }
}

const STOP_RETRY_MS = 250;
