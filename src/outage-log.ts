/**
 * How an outage of the session store is logged (docs/contract.md §12, "Release, fail-closed,
 * seats"): one line when it starts, at most one a minute while it lasts (how long, how many calls
 * failed, the last error), and one when the store answers again, with its duration. Instead of a
 * line per failed call, which was about 70 a second per instance under load.
 */
import type { Log } from './logger.js';

/** While an outage lasts, a reminder at most this often. */
const OUTAGE_REMINDER_MS = 60_000;

export class StoreOutageLog {
  /** When the current outage began (`now()`), if one is under way. */
  private since: number | undefined;
  private failures = 0;
  private lastLine = 0;

  constructor(
    private readonly log: Log,
    private readonly now: () => number = Date.now,
    private readonly reminderMs = OUTAGE_REMINDER_MS,
  ) {}

  /** A store call failed. */
  failed(operation: string, error: Error): void {
    const now = this.now();
    this.failures++;
    if (this.since === undefined) {
      this.since = now;
      this.failures = 1;
      this.lastLine = now;
      this.log.warn(
        `the session store is unavailable: ${operation} failed (${error.message}); ` +
          'logged again at most once a minute while it lasts, and when it answers',
      );
      return;
    }
    if (now - this.lastLine < this.reminderMs) return;
    this.lastLine = now;
    this.log.warn(
      `the session store is still unavailable after ${seconds(now - this.since)}: ` +
        `${this.failures} failed calls so far, the last ${operation} (${error.message})`,
    );
  }

  /** A store call succeeded: ends the outage, if one was under way. */
  answered(): void {
    if (this.since === undefined) return;
    const lasted = this.now() - this.since;
    const failures = this.failures;
    this.since = undefined;
    this.failures = 0;
    this.log.info(`the session store answers again: the outage lasted ${seconds(lasted)} (${failures} failed calls)`);
  }

  /** Whether an outage is under way. */
  get ongoing(): boolean {
    return this.since !== undefined;
  }
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
