/**
 * Open WebSockets by session: a session revoked or past its absolute timeout loses its sockets at
 * once, and an open socket keeps its session from idling out.
 */
import type { ChangeNotice } from '../store/change-log.js';
import type { StoredSession } from '../store/rows.js';
import type { Timeouts } from '../vocabulary.js';
import type { DbClock } from './db-clock.js';
import type { SessionTouches } from './session-touches.js';

/** How the library closes a socket: the WebSocket close code and the reason string. */
export type CloseSocket = (code: number, reason: string) => void;

/** Close codes of governed WebSocket connections (docs/contract.md §8). */
export const CLOSE_CODES = { unauthorized: 4401, forbidden: 4403, unavailable: 4503 } as const;

interface Connection {
  session: StoredSession;
  close: CloseSocket;
  expiry: NodeJS.Timeout | undefined;
}

/**
 * The live connections (WebSockets) of this instance, by session: a revocation closes every
 * socket of the session (from this instance or, through the change feed, from any other), the
 * absolute timeout closes it when it passes, and an open socket keeps its session from idling
 * out (one touch per `touchInterval` for all of them, batched like HTTP touches).
 */
export class ConnectionRegistry {
  private readonly byKey = new Map<string, Set<Connection>>();
  private keepAliveTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly timeouts: Timeouts,
    private readonly clock: Pick<DbClock, 'now'>,
    /** Records that a session is in use (a batched touch, at most once per `touchInterval`). */
    private readonly touches: Pick<SessionTouches, 'record'>,
    private readonly touchIntervalMs: number,
  ) {}

  /** Tracks an open connection of `session`; returns what forgets it (idempotent). */
  open(session: StoredSession, close: CloseSocket): () => void {
    const connection: Connection = { session, close, expiry: undefined };
    const absoluteMs = this.timeouts.absoluteTimeoutMs;
    if (absoluteMs !== null) {
      const left = session.createdAt.getTime() + absoluteMs - this.clock.now();
      connection.expiry = setTimeout(() => this.end(connection, 'SESSION_EXPIRED:ABSOLUTE'), Math.max(0, left));
      connection.expiry.unref();
    }
    let set = this.byKey.get(session.keyHash);
    if (!set) this.byKey.set(session.keyHash, (set = new Set()));
    set.add(connection);
    this.startKeepAlive();
    return () => this.forget(connection);
  }

  /** The change feed's fan-out: a revoked session loses its sockets here, whoever revoked it. */
  apply(notice: ChangeNotice): void {
    if (notice.kind !== 'REVOKED') return;
    const set = this.byKey.get(notice.keyHash);
    if (!set) return;
    for (const connection of [...set]) this.end(connection, `SESSION_REVOKED:${notice.reason}`);
  }

  /** Open connections on this instance. */
  get size(): number {
    let n = 0;
    for (const set of this.byKey.values()) n += set.size;
    return n;
  }

  /** Closes every socket of this instance (e.g. `4503` when revocations cannot be confirmed). */
  closeAll(code: number, reason: string): void {
    for (const set of [...this.byKey.values()]) {
      for (const connection of [...set]) {
        this.forget(connection);
        connection.close(code, reason);
      }
    }
  }

  stop(): void {
    clearInterval(this.keepAliveTimer);
    this.keepAliveTimer = undefined;
    for (const set of this.byKey.values()) for (const connection of set) clearTimeout(connection.expiry);
    this.byKey.clear();
  }

  private end(connection: Connection, reason: string): void {
    this.forget(connection);
    connection.close(CLOSE_CODES.unauthorized, reason);
  }

  private forget(connection: Connection): void {
    clearTimeout(connection.expiry);
    const set = this.byKey.get(connection.session.keyHash);
    if (!set?.delete(connection)) return;
    if (!set.size) this.byKey.delete(connection.session.keyHash);
    if (!this.byKey.size) {
      clearInterval(this.keepAliveTimer);
      this.keepAliveTimer = undefined;
    }
  }

  /** One timer for every open connection, running only while there is one. */
  private startKeepAlive(): void {
    if (this.keepAliveTimer) return;
    this.keepAliveTimer = setInterval(() => {
      for (const set of this.byKey.values()) {
        for (const connection of set) connection.session = this.touches.record(connection.session);
      }
      // Twice per interval: a touch is due once the last one is a full interval old.
    }, this.touchIntervalMs / 2);
    this.keepAliveTimer.unref();
  }
}
