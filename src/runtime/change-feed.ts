import type { ChangeListener, ChangeLog, RevokedNotice } from '../store/change-log.js';
import type { RevokeReason } from '../vocabulary.js';

/** NOTIFY payloads must stay under 8000 bytes; 64-hex digests plus JSON fit about 100 a message. */
const DIGESTS_PER_MESSAGE = 100;
/** Polls look back this far so a revocation whose transaction committed late is not skipped. */
const POLL_OVERLAP_MS = 5_000;
const RECONNECT_DELAY_MS = 1_000;

interface Message {
  r: RevokeReason;
  k: string[];
}

/**
 * Spreads revocations across instances: a NOTIFY after the revoking transaction commits (never
 * inside it: a notifying transaction takes a global lock at commit) for speed, and a poll of
 * recently revoked rows every `syncInterval` for what a dropped listener missed
 * (docs/design.md, "How a revocation reaches every instance").
 */
export class ChangeFeed {
  private listener: ChangeListener | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private pollCursor: Date | undefined;
  private stopped = false;
  private polling: Promise<void> | undefined;
  /** Notifications being sent: a process that revokes and exits (the CLI) must not close the store under them. */
  private readonly publishing = new Set<Promise<void>>();
  /** Database clock minus local clock, refreshed by every poll. */
  clockOffsetMs = 0;
  /** Local time when the last successful poll started: revocations before it are applied here. */
  private syncedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly log: ChangeLog,
    private readonly syncIntervalMs: number,
    /** `maxStaleness`: memory may answer only this long after the last completed poll. */
    private readonly maxStalenessMs: number,
    private readonly apply: (notice: RevokedNotice) => void,
    private readonly onError: (operation: string, error: Error) => void,
  ) {}

  async start(): Promise<void> {
    await this.poll();
    this.pollTimer = setInterval(() => void this.poll(), this.syncIntervalMs);
    this.pollTimer.unref();
    if (this.log.pushes) await this.listen();
  }

  /** Tells the other instances; failures are left to their poll. `stop` waits for what is under way. */
  publish(revoked: ReadonlyArray<{ keyHash: string; revokedReason: RevokeReason | null }>): Promise<void> {
    const sending = this.send(revoked);
    this.publishing.add(sending);
    void sending.finally(() => this.publishing.delete(sending));
    return sending;
  }

  private async send(revoked: ReadonlyArray<{ keyHash: string; revokedReason: RevokeReason | null }>): Promise<void> {
    if (!this.log.pushes || !revoked.length) return;
    const byReason = new Map<RevokeReason, string[]>();
    for (const s of revoked) {
      const reason = s.revokedReason ?? 'REVOKED';
      byReason.set(reason, [...(byReason.get(reason) ?? []), s.keyHash]);
    }
    const payloads: string[] = [];
    for (const [reason, digests] of byReason) {
      for (let i = 0; i < digests.length; i += DIGESTS_PER_MESSAGE) {
        payloads.push(JSON.stringify({ r: reason, k: digests.slice(i, i + DIGESTS_PER_MESSAGE) } satisfies Message));
      }
    }
    try {
      await this.log.notify(payloads);
    } catch (error) {
      this.onError('notify', error as Error);
    }
  }

  private async listen(): Promise<void> {
    let listener: ChangeListener;
    try {
      listener = await this.log.listen({
        onPayload: (payload) => this.received(payload),
        onLost: (error) => this.reconnect(listener, error),
      });
    } catch (error) {
      this.reconnect(undefined, error as Error);
      return;
    }
    // Stopped while this (re)connect was under way: the connection must not outlive the feed,
    // or it keeps listening after close() and keeps the host's process from exiting.
    if (this.stopped) return listener.close();
    this.listener = listener;
  }

  private received(payload: string): void {
    try {
      const { r, k } = JSON.parse(payload) as Message;
      const now = new Date(Date.now() + this.clockOffsetMs);
      for (const keyHash of k) this.apply({ keyHash, revokedAt: now, reason: r });
    } catch (error) {
      this.onError('notification', error as Error);
    }
  }

  private reconnect(lost: ChangeListener | undefined, error: Error): void {
    if (this.stopped || this.reconnectTimer || (this.listener && this.listener !== lost)) return;
    this.listener = undefined;
    this.onError('listen', error);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      // Whatever was published while the listener was down, the poll picks up.
      void this.poll();
      void this.listen();
    }, RECONNECT_DELAY_MS);
    this.reconnectTimer.unref();
  }

  /**
   * Whether this instance's cache cannot be missing a revocation made elsewhere for longer than
   * promised: a poll that started at most `maxStaleness` ago completed. An open LISTEN connection
   * proves nothing by itself: a stalled link or a frozen database keeps it open while nothing
   * arrives, so only a completed round trip counts.
   */
  isFresh(now = Date.now()): boolean {
    return now - this.syncedAt <= this.maxStalenessMs;
  }

  /** Reads recently revoked sessions; overlapping windows make a late commit harmless to miss once. */
  poll(): Promise<void> {
    this.polling ??= this.pollOnce().finally(() => {
      this.polling = undefined;
    });
    return this.polling;
  }

  private async pollOnce(): Promise<void> {
    try {
      const localBefore = Date.now();
      const { dbNow, revoked } = await this.log.revokedSince(this.pollCursor);
      const localAfter = Date.now();
      this.clockOffsetMs = dbNow.getTime() - (localBefore + localAfter) / 2;
      for (const notice of revoked) this.apply(notice);
      this.pollCursor = new Date(dbNow.getTime() - POLL_OVERLAP_MS);
      this.syncedAt = localBefore;
    } catch (error) {
      this.onError('poll', error as Error);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.pollTimer);
    clearTimeout(this.reconnectTimer);
    await this.polling;
    await Promise.all(this.publishing);
    const listener = this.listener;
    this.listener = undefined;
    if (listener) await listener.close();
  }
}
