/**
 * `sessionEvents` streams on this instance: one per subscribed user, fed by the change feed and one
 * shared poll, never a query per subscriber.
 */
import { EventEmitter, on } from 'node:events';
import { LRUCache } from 'lru-cache';
import { expiresAt, sessionState } from '../policy/admission.js';
import type { ChangeLog, ChangeNotice } from '../store/change-log.js';
import type { ExpiryReason, RevokeReason, SessionInfo, Timeouts } from '../vocabulary.js';

/** What happened to a session, as `sessionEvents` delivers it. */
export interface SessionEvent {
  type: 'ADMITTED' | 'REVOKED' | 'EXPIRED';
  session: SessionInfo;
  /** `REVOKED`: the revocation's code; `EXPIRED`: `IDLE` or `ABSOLUTE`; else null. */
  reason: RevokeReason | ExpiryReason | null;
}

/** What the hub reads: the sessions an event is about, by id. */
export interface EventSessions {
  findMany(ids: readonly string[]): Promise<SessionInfo[]>;
}

export interface SessionEventSettings {
  timeouts: Timeouts;
  /** How often the changes nobody writes (expiry) and admissions of other instances are looked for. */
  syncIntervalMs: number;
  dbNow(): number;
}

/**
 * `sessionEvents` on this instance: one stream per subscribed user, fed by the change feed
 * (admissions and revocations, from here or any instance) and, while anyone subscribes, by one
 * statement per `syncInterval` for all subscribed users (admissions the feed did not push, and
 * expiry, which no statement writes). Never a query per subscriber; an event reaches each
 * subscriber once.
 */
export class SessionEventHub {
  private readonly emitter = new EventEmitter();
  private readonly delivered = new LRUCache<string, true>({ max: 10_000, ttl: 60_000 });
  private pollTimer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private since: Date | undefined;

  constructor(
    private readonly sessions: EventSessions,
    private readonly log: ChangeLog,
    private readonly settings: SessionEventSettings,
    private readonly onError: (operation: string, error: Error) => void,
  ) {
    // Subscribers are bounded by connections, not by a listener count meant to catch leaks.
    this.emitter.setMaxListeners(0);
  }

  /**
   * The events about `userId`'s sessions from now on. Its `return()` ends it at once, even while
   * it waits for the next event: a socket that goes must not leave it (and the polling it keeps
   * alive) behind until that user's next event (docs/design.md, "Why a socket's iterators are
   * ended on close").
   */
  subscribe(userId: string): AsyncIterableIterator<SessionEvent, undefined> {
    this.startPolling();
    const source = on(this.emitter, channel(userId));
    // Only what happens from now on: the feed and the overlapping polls also carry older news.
    // "Now" is read from the database: the local estimate of its clock is off by up to half a
    // round trip, which on a loaded instance let a sign-in made just before subscribing through.
    // Events between the listener above and this reading are filtered out; those after it are
    // not lost: the polls overlap.
    const since = this.databaseNow();
    let ended = false;
    const end = async (): Promise<IteratorResult<SessionEvent, undefined>> => {
      if (!ended) {
        ended = true;
        await source.return?.();
        if (!this.subscribedUsers().length) this.stopPolling();
      }
      return { value: undefined, done: true };
    };
    const timeouts = this.settings.timeouts;
    return {
      [Symbol.asyncIterator]() {
        return this;
      },
      async next() {
        const from = await since;
        while (!ended) {
          const step = await source.next();
          if (step.done) break;
          const [event] = step.value as [SessionEvent];
          if (happenedAt(event, timeouts) >= from) return { value: event, done: false };
        }
        return end();
      },
      return: end,
    };
  }

  private async databaseNow(): Promise<number> {
    try {
      return (await this.log.clock()).getTime();
    } catch {
      // The store is down: the estimate, less its usual error, rather than no events at all.
      return this.settings.dbNow() - CLOCK_TOLERANCE_MS;
    }
  }

  /** The change feed's fan-out. */
  apply(notice: ChangeNotice): void {
    if (!notice.userId || !notice.sessionId || !this.emitter.listenerCount(channel(notice.userId))) return;
    const key = `${notice.kind}:${notice.sessionId}`;
    if (this.delivered.has(key)) return;
    this.delivered.set(key, true);
    const sessionId = notice.sessionId;
    this.sessions.findMany([sessionId]).then(
      ([session]) => {
        if (!session) return;
        const reason =
          notice.kind === 'REVOKED'
            ? notice.reason
            : notice.kind === 'EXPIRED'
              ? expiryReason(session, this.settings)
              : null;
        const event: SessionEvent = { type: notice.kind, session, reason };
        this.emitter.emit(channel(session.userId), event);
      },
      (error: Error) => this.onError('events', error),
    );
  }

  get subscribers(): number {
    return this.subscribedUsers().reduce((n, user) => n + this.emitter.listenerCount(channel(user)), 0);
  }

  stop(): void {
    this.stopPolling();
    this.emitter.removeAllListeners();
  }

  private subscribedUsers(): string[] {
    return this.emitter
      .eventNames()
      .filter((name): name is string => typeof name === 'string' && this.emitter.listenerCount(name) > 0)
      .map((name) => name.slice(CHANNEL_PREFIX.length));
  }

  private startPolling(): void {
    if (this.pollTimer) return;
    this.since = new Date(this.settings.dbNow());
    this.pollTimer = setInterval(() => void this.poll(), this.settings.syncIntervalMs);
    this.pollTimer.unref();
  }

  private stopPolling(): void {
    clearInterval(this.pollTimer);
    this.pollTimer = undefined;
  }

  private poll(): Promise<void> {
    this.polling ??= (async () => {
      const users = this.subscribedUsers();
      if (!users.length || !this.since) return;
      try {
        const { dbNow, admitted, expired } = await this.log.userChangesSince(users, this.since, this.settings.timeouts);
        // Overlapping windows: a row committed late is still found; `delivered` drops the repeats.
        this.since = new Date(dbNow.getTime() - POLL_OVERLAP_MS);
        for (const notice of [...admitted, ...expired]) this.apply(notice);
      } catch (error) {
        this.onError('events', error as Error);
      }
    })().finally(() => {
      this.polling = undefined;
    });
    return this.polling;
  }
}

const POLL_OVERLAP_MS = 2_000;
/** Clocks of the instances and the database differ by a few milliseconds. */
const CLOCK_TOLERANCE_MS = 50;
const CHANNEL_PREFIX = 'user:';
const channel = (userId: string) => `${CHANNEL_PREFIX}${userId}`;

function expiryReason(session: SessionInfo, settings: SessionEventSettings): ExpiryReason {
  const state = sessionState(session, settings.dbNow(), settings.timeouts);
  return state.status === 'EXPIRED' ? state.reason : 'IDLE';
}

/** When the event happened, by the database clock. */
function happenedAt(event: SessionEvent, timeouts: Timeouts): number {
  const { session } = event;
  if (event.type === 'ADMITTED') return session.createdAt.getTime();
  if (event.type === 'REVOKED') return session.revokedAt?.getTime() ?? Number.POSITIVE_INFINITY;
  return expiresAt(session, timeouts)?.getTime() ?? Number.POSITIVE_INFINITY;
}
