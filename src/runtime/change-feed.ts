import type { AdmittedNotice, ChangeListener, ChangeLog, ChangeNotice, RevokedNotice } from '../store/change-log.js';
import type { RevokeReason } from '../vocabulary.js';

/** NOTIFY payloads must stay under 8000 bytes: messages are filled up to this many characters. */
const MAX_MESSAGE_CHARS = 7_000;
/** Polls look back this far so a revocation whose transaction committed late is not skipped. */
const POLL_OVERLAP_MS = 5_000;
/**
 * The LISTEN connection's reconnection: the first try after about a second, then twice as long
 * each time up to 30 s, each delay drawn between half and all of it (so a fleet that lost its
 * database together does not come back in step), and one report per try: a few lines per outage
 * instead of one a second (docs/design.md, "Revocation across instances").
 */
const RECONNECT_FIRST_MS = 1_000;
const RECONNECT_MAX_MS = 30_000;
/**
 * Admissions are told in batches at most this late: a NOTIFY per admission would add a round
 * trip and a commit-time lock to every login, for events that `sessionEvents` may show later.
 */
const ADMISSION_BATCH_MS = 50;
/**
 * An instance's LISTEN connection hears the instance's own notifications back, normally within
 * milliseconds. None of them heard this long after being sent means that connection is on a
 * server where the pool does not write (a feed URL or endpoint that leads to an old primary
 * restarted outside the cluster manager): it is replaced, another host first.
 */
const ECHO_DEADLINE_MS = 5_000;
/** Sent payloads kept to be heard back: enough to notice, bounded however busy the instance is. */
const MAX_ECHOES = 64;

/**
 * On the wire: revocations as `{ r, k, s }` (reason, key digests, and for each the session id and
 * user id), admissions as `{ a }` ([session id, user id] pairs). `r` and `k` keep the format of
 * earlier versions, so instances of both can share a fleet during an upgrade.
 */
type Message = { r: RevokeReason; k: string[]; s?: Array<[string, string]> } | { a: Array<[string, string]> };

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
  /** Failed LISTEN attempts since the last one that worked: the backoff's exponent. */
  private reconnectAttempts = 0;
  /** Whether the last poll failed: its first success after that is the database coming back. */
  private pollFailing = false;
  /** Payloads this instance sent while listening, not yet heard back: when each was sent. */
  private readonly echoes = new Map<string, number>();
  /** The last loss was a listener on the wrong server: its reconnection does not reset the backoff. */
  private lostToDeafness = false;
  private pollCursor: Date | undefined;
  private stopped = false;
  private polling: Promise<void> | undefined;
  private admissions: ChangeNotice[] = [];
  private admissionTimer: NodeJS.Timeout | undefined;
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
    private readonly apply: (notice: ChangeNotice) => void,
    private readonly onError: (operation: string, error: Error) => void,
    /** Told of every completed poll: the store answers (a logged outage ends). */
    private readonly onSynced: () => void = () => {},
  ) {}

  async start(): Promise<void> {
    await this.poll();
    this.pollTimer = setInterval(() => void this.poll(), this.syncIntervalMs);
    this.pollTimer.unref();
    if (this.log.pushes) await this.listen();
  }

  /**
   * Tells the other instances (after the change committed); failures are left to their poll.
   * `stop` waits for what is under way.
   */
  publish(notices: readonly ChangeNotice[]): Promise<void> {
    if (!this.log.pushes || !notices.length) return Promise.resolve();
    const now = notices.filter((n) => n.kind !== 'ADMITTED');
    const later = notices.filter((n) => n.kind === 'ADMITTED');
    if (later.length) {
      this.admissions.push(...later);
      this.admissionTimer ??= setTimeout(() => {
        this.admissionTimer = undefined;
        const batch = this.admissions;
        this.admissions = [];
        void this.track(this.notify(batch));
      }, ADMISSION_BATCH_MS);
    }
    return now.length ? this.track(this.notify(now)) : Promise.resolve();
  }

  private track(sending: Promise<void>): Promise<void> {
    this.publishing.add(sending);
    void sending.finally(() => this.publishing.delete(sending));
    return sending;
  }

  private async notify(notices: readonly ChangeNotice[]): Promise<void> {
    const payloads = messagesFor(notices);
    // Heard back on the listener that is there when they are sent, or that listener is deaf.
    // Expected before sending: each payload is its own statement, and the first one's echo can
    // arrive while the later ones are still being sent (a listener taken for deaf after every
    // batch of more than one payload, e.g. 1,000 users revoked at once).
    const expected: string[] = [];
    if (this.listener) {
      const sentAt = Date.now();
      for (const payload of payloads) {
        if (this.echoes.size >= MAX_ECHOES) break;
        this.echoes.set(payload, sentAt);
        expected.push(payload);
      }
    }
    try {
      await this.log.notify(payloads);
    } catch (error) {
      // Not sent, so not to be heard.
      for (const payload of expected) this.echoes.delete(payload);
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
    this.echoes.clear();
    if (!this.lostToDeafness) this.reconnectAttempts = 0;
  }

  private received(payload: string): void {
    if (this.echoes.delete(payload)) {
      // Heard: this listener is where the pool writes.
      this.lostToDeafness = false;
      this.reconnectAttempts = 0;
    }
    try {
      const message = JSON.parse(payload) as Message;
      if ('a' in message) {
        for (const [sessionId, userId] of message.a) this.apply({ kind: 'ADMITTED', sessionId, userId });
        return;
      }
      const now = new Date(Date.now() + this.clockOffsetMs);
      message.k.forEach((keyHash, i) => {
        const [sessionId, userId] = message.s?.[i] ?? [];
        this.apply({ kind: 'REVOKED', keyHash, sessionId, userId, revokedAt: now, reason: message.r });
      });
    } catch (error) {
      this.onError('notification', error as Error);
    }
  }

  /** A listener that did not hear its own notifications back in time is replaced, on another host first. */
  private checkEchoes(now = Date.now()): void {
    const listener = this.listener;
    if (!listener) return;
    for (const sentAt of this.echoes.values()) {
      if (now - sentAt < ECHO_DEADLINE_MS) continue;
      this.echoes.clear();
      this.lostToDeafness = true;
      listener.passOver();
      this.reconnect(
        listener,
        new Error(
          `the LISTEN connection heard none of this instance's own notifications within ${ECHO_DEADLINE_MS} ms: ` +
            'it is not on the server the pool writes to (a feed URL or endpoint that leads to another primary?); reconnecting',
        ),
      );
      void listener.close();
      return;
    }
  }

  private reconnect(lost: ChangeListener | undefined, error: Error): void {
    if (this.stopped || this.reconnectTimer || (this.listener && this.listener !== lost)) return;
    this.listener = undefined;
    this.echoes.clear();
    this.onError('listen', error);
    const ceiling = Math.min(RECONNECT_MAX_MS, RECONNECT_FIRST_MS * 2 ** this.reconnectAttempts);
    this.reconnectAttempts++;
    this.reconnectTimer = setTimeout(() => this.reconnectNow(), ceiling / 2 + Math.random() * (ceiling / 2));
    this.reconnectTimer.unref();
  }

  private reconnectNow(): void {
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    // Whatever was published while the listener was down, the poll picks up.
    void this.poll();
    void this.listen();
  }

  /**
   * The poll reached the database again after failing: the database is back (a restart, a
   * failover to another host), so the listener, waiting out its backoff, tries at once and
   * revocations travel by notification again without waiting up to 30 s.
   */
  private databaseBack(): void {
    if (this.stopped || this.listener || !this.reconnectTimer) return;
    this.reconnectAttempts = 0;
    this.reconnectNow();
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
      this.checkEchoes();
      if (this.pollFailing) {
        this.pollFailing = false;
        this.databaseBack();
      }
      this.onSynced();
    } catch (error) {
      this.pollFailing = true;
      this.onError('poll', error as Error);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.pollTimer);
    clearTimeout(this.admissionTimer);
    if (this.admissions.length) await this.notify(this.admissions.splice(0));
    clearTimeout(this.reconnectTimer);
    await this.polling;
    await Promise.all(this.publishing);
    const listener = this.listener;
    this.listener = undefined;
    if (listener) await listener.close();
  }
}

/** Packs notices into NOTIFY payloads: revocations by reason, then admissions, each under the size limit. */
function messagesFor(notices: readonly ChangeNotice[]): string[] {
  const payloads: string[] = [];
  const byReason = new Map<RevokeReason, RevokedNotice[]>();
  const admitted: AdmittedNotice[] = [];
  for (const notice of notices) {
    if (notice.kind === 'REVOKED') byReason.set(notice.reason, [...(byReason.get(notice.reason) ?? []), notice]);
    else if (notice.kind === 'ADMITTED') admitted.push(notice);
  }
  for (const [reason, revoked] of byReason) {
    let message = { r: reason, k: [] as string[], s: [] as Array<[string, string]> };
    let size = 0;
    for (const notice of revoked) {
      const entry: [string, string] = [notice.sessionId ?? '', notice.userId ?? ''];
      const cost = notice.keyHash.length + JSON.stringify(entry).length + 4;
      if (size + cost > MAX_MESSAGE_CHARS && message.k.length) {
        payloads.push(JSON.stringify(message));
        message = { r: reason, k: [], s: [] };
        size = 0;
      }
      message.k.push(notice.keyHash);
      message.s.push(entry);
      size += cost;
    }
    if (message.k.length) payloads.push(JSON.stringify(message));
  }
  let pairs: Array<[string, string]> = [];
  let size = 0;
  for (const notice of admitted) {
    const entry: [string, string] = [notice.sessionId, notice.userId];
    const cost = JSON.stringify(entry).length + 1;
    if (size + cost > MAX_MESSAGE_CHARS && pairs.length) {
      payloads.push(JSON.stringify({ a: pairs }));
      pairs = [];
      size = 0;
    }
    pairs.push(entry);
    size += cost;
  }
  if (pairs.length) payloads.push(JSON.stringify({ a: pairs }));
  return payloads;
}
