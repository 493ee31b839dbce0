/**
 * Fail-closed for live connections (docs/contract.md §12, "Release, fail-closed, seats"): the same
 * bound as HTTP. While governed sockets are open, this instance checks that it can still confirm
 * revocations made elsewhere (the change feed completed a poll within `maxStaleness`). When it
 * cannot, the store gets one more chance of `STALE_CHECK_DEADLINE_MS` (as an HTTP request with
 * stale memory gets for its store check); then every governed socket is closed with `4503`
 * `SESSION_STORE_UNAVAILABLE`, and new governed connections are refused until a poll completes.
 * With `failMode: 'open'` nothing is closed or refused, as HTTP then serves too.
 */
import { SessionErrorCode } from '../errors.js';
import { CLOSE_CODES } from './connections.js';
import { STALE_CHECK_DEADLINE_MS, withDeadline } from './sessions.js';

/** How often the open sockets' instance checks that its view of revocations is fresh. */
const SOCKET_STALENESS_CHECK_MS = 200;

export interface RevocationFeed {
  isFresh(now?: number): boolean;
  /** A poll of the change feed (shared with one under way). */
  poll(): Promise<void>;
}

export interface GovernedSockets {
  readonly size: number;
  /** Closes every governed socket of this instance with `code` and `reason`. */
  closeAll(code: number, reason: string): void;
}

export class SocketStoreGuard {
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<boolean> | undefined;

  constructor(
    private readonly feed: RevocationFeed,
    private readonly sockets: GovernedSockets,
    private readonly failMode: 'closed' | 'open',
  ) {}

  /**
   * Whether this instance can vouch for revocations now: at once if the feed is fresh, else after
   * one more poll of at most `STALE_CHECK_DEADLINE_MS`. Always true with `failMode: 'open'`.
   */
  confirm(): Promise<boolean> {
    if (this.failMode === 'open' || this.feed.isFresh()) return Promise.resolve(true);
    this.checking ??= withDeadline(this.feed.poll(), STALE_CHECK_DEADLINE_MS)
      .then(
        () => this.feed.isFresh(),
        () => false,
      )
      .finally(() => {
        this.checking = undefined;
      });
    return this.checking;
  }

  /** Watches from the controller's start to its close; a tick with no socket open does nothing. */
  start(): void {
    if (this.timer || this.failMode === 'open') return;
    this.timer = setInterval(() => void this.check(), SOCKET_STALENESS_CHECK_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async check(): Promise<void> {
    if (!this.sockets.size || this.feed.isFresh()) return;
    if (await this.confirm()) return;
    if (this.sockets.size) this.sockets.closeAll(CLOSE_CODES.unavailable, SessionErrorCode.SESSION_STORE_UNAVAILABLE);
  }
}
