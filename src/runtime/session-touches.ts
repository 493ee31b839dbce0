/**
 * A session in use, written back: its last-seen time at most once per `touchInterval`, batched and
 * never on the request's path, for requests and open connections alike.
 */
import type { StoredSession } from '../store/rows.js';
import type { DbClock } from './db-clock.js';
import type { SessionCache } from './session-cache.js';
import { TouchBatcher } from './touch-batcher.js';

/** Touches are written at least this often, whatever `touchInterval` is, so shutdown loses little. */
const MAX_FLUSH_EVERY_MS = 1_000;

export class SessionTouches {
  private readonly batcher: TouchBatcher;

  constructor(
    private readonly cache: SessionCache,
    private readonly clock: DbClock,
    private readonly touchIntervalMs: number,
    write: (entries: Array<{ id: string; at: Date }>) => Promise<void>,
    onError: (error: Error) => void,
  ) {
    this.batcher = new TouchBatcher(write, Math.min(touchIntervalMs, MAX_FLUSH_EVERY_MS), onError);
  }

  start(): void {
    this.batcher.start();
  }

  /** At most one write per session per `touchInterval`, and never on the request's path. */
  record(session: StoredSession): StoredSession {
    const now = this.clock.now();
    if (now - session.lastSeenAt.getTime() < this.touchIntervalMs) return session;
    const touched = { ...session, lastSeenAt: new Date(now) };
    this.cache.set(touched);
    this.batcher.add(session.id, touched.lastSeenAt);
    return touched;
  }

  /** Writes pending last-seen touches now. */
  flush(): Promise<void> {
    return this.batcher.flush();
  }

  /** Writes what is pending within `deadlineMs`; returns how many touches could not be written. */
  stop(deadlineMs: number): Promise<number> {
    return this.batcher.stop(deadlineMs);
  }
}
