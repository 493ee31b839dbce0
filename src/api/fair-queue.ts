/**
 * The session API's share of the connection pool, shared fairly between callers (the user id):
 * at most `slots` store queries at once on this instance and `perKey` for one caller; waiting
 * callers take turns (round robin); and a caller with more queries waiting rests after each one
 * as long as it took, so one caller holds at most about half of a slot's time however many
 * requests it sends. A user flooding the API waits behind their own queries, never in front of
 * everyone else's (docs/contract.md §15, "Fair listings").
 */
import { performance } from 'node:perf_hooks';

export class FairQueue {
  private running = 0;
  /** Queries running now, per caller. */
  private readonly active = new Map<string, number>();
  /** Waiting queries per caller; the map's order is the order of turns. */
  private readonly waiting = new Map<string, Array<() => void>>();
  /** Until when (performance.now()) a caller's waiting queries rest after its last one. */
  private readonly resting = new Map<string, number>();
  /** The timer that dispatches again when the first resting caller may go on. */
  private wakeUp: NodeJS.Timeout | undefined;
  private wakeAt = Number.POSITIVE_INFINITY;

  constructor(
    private readonly slots: number,
    private readonly perKey: number,
  ) {}

  /** Runs `task` once a slot is free and it is `key`'s turn; the slot is given back when it settles. */
  async run<T>(key: string, task: () => Promise<T>): Promise<T> {
    if (this.running < this.slots && this.ready(key, performance.now()) && !this.waiting.has(key)) {
      this.take(key);
    } else {
      // The slot is taken on this query's behalf before it is woken (dispatch), so none is lost.
      await new Promise<void>((resolve) => {
        const queue = this.waiting.get(key);
        if (queue) queue.push(resolve);
        else this.waiting.set(key, [resolve]);
      });
    }
    const started = performance.now();
    try {
      return await task();
    } finally {
      this.give(key, performance.now() - started);
    }
  }

  /** Whether `key` may start a query now: under its share, and not resting. */
  private ready(key: string, now: number): boolean {
    const until = this.resting.get(key);
    if (until !== undefined && until <= now) this.resting.delete(key);
    return (this.active.get(key) ?? 0) < this.perKey && !(until !== undefined && until > now);
  }

  private take(key: string): void {
    this.running += 1;
    this.active.set(key, (this.active.get(key) ?? 0) + 1);
  }

  private give(key: string, tookMs: number): void {
    this.running -= 1;
    const left = (this.active.get(key) ?? 0) - 1;
    if (left > 0) this.active.set(key, left);
    else this.active.delete(key);
    // A caller with more queries waiting gives the time it just used to the others.
    if (this.waiting.has(key)) this.resting.set(key, performance.now() + tookMs);
    this.dispatch();
  }

  /** Fills free slots with the first callers in turn that may start a query. */
  private dispatch(): void {
    while (this.running < this.slots) {
      const now = performance.now();
      let next: string | undefined;
      let soonest = Number.POSITIVE_INFINITY;
      for (const key of this.waiting.keys()) {
        if (this.ready(key, now)) {
          next = key;
          break;
        }
        soonest = Math.min(soonest, this.resting.get(key) ?? soonest);
      }
      if (next === undefined) {
        if (soonest < this.wakeAt) {
          clearTimeout(this.wakeUp);
          this.wakeAt = soonest;
          // Timers run on a coarser clock than performance.now(): one millisecond more, so the
          // rest is over when it fires.
          this.wakeUp = setTimeout(
            () => {
              this.wakeAt = Number.POSITIVE_INFINITY;
              this.dispatch();
            },
            Math.ceil(soonest - now) + 1,
          );
        }
        return;
      }
      const queue = this.waiting.get(next)!;
      const wake = queue.shift()!;
      // To the back of the line: the others have their turn before this caller's next query.
      this.waiting.delete(next);
      if (queue.length) this.waiting.set(next, queue);
      this.take(next);
      wake();
    }
  }
}
