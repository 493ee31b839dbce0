import { sessionExpired, sessionLimitExceeded, sessionRevoked, storeUnavailable, unauthenticated } from '../errors.js';
import { type HookRunner, isThenable } from '../hooks.js';
import { checkIdentity, hashSessionKey, keyExpiry, publicIdentity, type Identity } from '../identity.js';
import type { ResolvedOptions } from '../options.js';
import { expiresAt, sessionState } from '../policy/admission.js';
import type { RevokedNotice } from '../store/change-log.js';
import { toSessionInfo, type StoredSession } from '../store/rows.js';
import type { SessionStore } from '../store/session-store.js';
import type { Limit, RevokeReason, SessionInfo, Timeouts } from '../vocabulary.js';
import type { ChangeFeed } from './change-feed.js';
import type { Governed, SessionRuntime } from './contracts.js';
import { RefusedKeys } from './refused-keys.js';
import { SessionCache } from './session-cache.js';
import { TouchBatcher } from './touch-batcher.js';
import { GraphQLError } from 'graphql';

/** Touches are written at least this often, whatever `touchInterval` is, so shutdown loses little. */
const MAX_FLUSH_EVERY_MS = 1_000;
/**
 * How long a session that memory knows, but can no longer vouch for (`maxStaleness` passed), may
 * wait on the store before `failMode` decides: a stalled link must not hold requests for the
 * driver's 10 s timeout.
 */
const STALE_CHECK_DEADLINE_MS = 1_000;

/**
 * A key the store holds expired is remembered as final once it has been expired this long: a
 * touch from another instance that served it just before its expiry is flushed within a second,
 * so past this no late touch can bring it back.
 */
const EXPIRED_FINAL_AFTER_MS = 5_000;

/** Memory knows the session as active but is out of sync with the store. */
const STALE = Symbol('stale');

/** The caps and hooks a runtime enforces; behind the kill switch, none (decided by the controller). */
export interface Governance {
  limits: { appLimit: Limit; defaultUserLimit: Limit };
  /** The host's `limitFor`, or none (behind the kill switch, or not given). */
  limitFor: ResolvedOptions['limitFor'];
}

type RuntimeOptions = Pick<
  ResolvedOptions,
  'identify' | 'isExempt' | 'isAdmin' | 'onLimit' | 'failMode' | 'timeouts' | 'touchIntervalMs' | 'cacheSize'
>;

/**
 * Sessions at run time: the request path (memory first, then the store), admission, revocation
 * and its fan-out to this instance's memory, the fail-mode guard and the database clock.
 */
export class Sessions implements SessionRuntime {
  readonly timeouts: Timeouts;
  readonly limits: Governance['limits'];
  private readonly cache: SessionCache;
  private readonly touches: TouchBatcher;
  /** Concurrent requests with one key on one instance share a single database look-up. */
  private readonly inFlight = new Map<string, Promise<StoredSession>>();
  /** Keys refused here: repeated from memory, so a retrying client costs no transaction (docs/design.md, "Refused keys"). */
  private readonly refused: RefusedKeys;
  private feed: ChangeFeed | undefined;

  constructor(
    private readonly options: RuntimeOptions,
    private readonly governance: Governance,
    private readonly store: SessionStore,
    private readonly hooks: HookRunner,
  ) {
    this.timeouts = options.timeouts;
    this.limits = governance.limits;
    this.cache = new SessionCache(options.cacheSize);
    this.refused = new RefusedKeys(options.cacheSize);
    this.touches = new TouchBatcher(
      (entries) => this.store.touch(entries),
      Math.min(options.touchIntervalMs, MAX_FLUSH_EVERY_MS),
      (error) => this.hooks.storeFailed('touch', error),
    );
  }

  /** Connects the change feed: memory may answer only while the feed is fresh. */
  attachFeed(feed: ChangeFeed): void {
    this.feed = feed;
  }

  startBackground(): void {
    this.touches.start();
  }

  identify(contextValue: unknown): Identity | null | Promise<Identity | null> {
    const identified = this.options.identify(contextValue);
    return isThenable<Identity | null | undefined>(identified)
      ? Promise.resolve(identified).then(checkIdentity)
      : checkIdentity(identified);
  }

  govern(contextValue: unknown): Governed | Promise<Governed> {
    const identified = this.options.identify(contextValue);
    if (isThenable(identified)) return Promise.resolve(identified).then((value) => this.governIdentity(checkIdentity(value)));
    return this.governIdentity(checkIdentity(identified));
  }

  private governIdentity(identity: Identity | null): Governed | Promise<Governed> {
    if (!identity) return { identity: null, session: null };
    const keyHash = hashSessionKey(identity.sessionKey);
    const remembered = this.fromMemory(identity, keyHash);
    if (remembered && remembered !== STALE) return { identity, session: remembered };
    if (!remembered) this.repeatRefusal(identity, keyHash);
    const fromStore =
      remembered === STALE
        ? () => withDeadline(this.serveFromStore(identity, keyHash), STALE_CHECK_DEADLINE_MS)
        : () => this.serveFromStore(identity, keyHash);
    return this.guard('request', fromStore, () => null).then((session) => ({ identity, session }));
  }

  async openSession(identity: Identity): Promise<SessionInfo> {
    const checked = checkIdentity(identity);
    if (!checked) throw unauthenticated('openSession needs an identity.');
    const keyHash = hashSessionKey(checked.sessionKey);
    // A login brings a new key: straight to admission, which finds an existing row itself.
    const session = await this.guard(
      'openSession',
      async () => {
        const remembered = this.fromMemory(checked, keyHash);
        if (remembered && remembered !== STALE) return remembered;
        if (!remembered) this.repeatRefusal(checked, keyHash);
        return this.serveFromStore(checked, keyHash, { expectNew: true });
      },
    );
    return toSessionInfo(session);
  }

  async guard<T>(operation: string, run: () => Promise<T>, openFallback?: () => T): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof GraphQLError) throw error;
      this.hooks.storeFailed(operation, error as Error);
      if (this.options.failMode === 'open' && openFallback) return openFallback();
      throw storeUnavailable();
    }
  }

  /**
   * What memory can answer for a key: the session, if known, active by this instance's view, and
   * the change feed in sync (serving it records the use, a batched touch); `STALE` if known and
   * active but the feed is out of sync (a revocation made elsewhere could be missing, so the
   * store decides, quickly, and `failMode` if it cannot); nothing otherwise. A session memory
   * knows to be revoked is refused at once.
   */
  private fromMemory(identity: Identity, keyHash: string): StoredSession | typeof STALE | undefined {
    const cached = this.cache.get(keyHash);
    if (!cached || cached.userId !== identity.userId) return undefined;
    const state = sessionState(cached, this.dbNow(), this.timeouts);
    if (state.status === 'REVOKED') throw sessionRevoked(state.reason);
    if (state.status !== 'ACTIVE') return undefined;
    return this.feed?.isFresh() ? this.recordUse(cached) : STALE;
  }

  /** Throws the refusal this instance remembers for the key, if any: no store call for it. */
  private repeatRefusal(identity: Identity, keyHash: string): void {
    const refusal = this.refused.get(keyHash, identity.userId);
    if (!refusal) return;
    if (refusal.kind === 'REVOKED') throw sessionRevoked(refusal.reason);
    if (refusal.kind === 'EXPIRED') throw sessionExpired(refusal.reason);
    this.hooks.rejected({ identity: publicIdentity(identity), level: refusal.level, limit: refusal.limit });
    throw sessionLimitExceeded(refusal.level, refusal.limit);
  }

  /**
   * The session as the store has it, for a key memory could not answer for. Expired by this
   * instance's view is a reason to ask too: another instance may have seen the session since.
   */
  private async serveFromStore(identity: Identity, keyHash: string, { expectNew = false } = {}): Promise<StoredSession> {
    const session = await this.loadOrAdmit(keyHash, identity, expectNew);
    // A key the host hands to two users is a host bug; refusing is the only safe answer.
    if (session.userId !== identity.userId) throw unauthenticated('This session belongs to another user.');
    const state = sessionState(session, this.dbNow(), this.timeouts);
    if (state.status === 'REVOKED') throw sessionRevoked(state.reason);
    if (state.status === 'EXPIRED') {
      const expiredFor = this.dbNow() - (expiresAt(session, this.timeouts)?.getTime() ?? Number.POSITIVE_INFINITY);
      if (expiredFor >= EXPIRED_FINAL_AFTER_MS) this.refused.revokedOrExpired(keyHash, identity.userId, { kind: 'EXPIRED', reason: state.reason });
      throw sessionExpired(state.reason);
    }
    return this.recordUse(session);
  }

  /**
   * A key missing from memory is usually known to the store (a new instance, an entry the LRU
   * dropped): a plain read, no locks. Only an unknown key takes the admission transaction, which
   * also returns the row if another request inserted it meanwhile.
   */
  private loadOrAdmit(keyHash: string, identity: Identity, expectNew: boolean): Promise<StoredSession> {
    let pending = this.inFlight.get(keyHash);
    if (!pending) {
      pending = (async () => {
        const known = expectNew ? null : await this.store.findByKeyHash(keyHash);
        const found = known ?? (await this.admit(keyHash, identity));
        this.cache.set(found);
        return found;
      })().finally(() => this.inFlight.delete(keyHash));
      this.inFlight.set(keyHash, pending);
    }
    return pending;
  }

  private async admit(keyHash: string, identity: Identity): Promise<StoredSession> {
    const exempt = this.options.isExempt(identity);
    const { limitFor } = this.governance;
    // `null` is an answer (unlimited), not "no opinion": only `undefined` falls through to the rules.
    const limitFromOption: Limit | undefined = exempt || !limitFor ? undefined : await limitFor(identity);
    const result = await this.store.admit({
      keyHash,
      userId: identity.userId,
      groups: identity.groups ?? [],
      ipAddress: identity.ip ?? null,
      userAgent: identity.userAgent ?? null,
      exempt,
      limitFromOption,
      defaultUserLimit: this.limits.defaultUserLimit,
      appLimit: this.limits.appLimit,
      policy: this.options.onLimit,
      keyExpiresAt: keyExpiry(identity),
    });
    const who = publicIdentity(identity);
    if (result.kind === 'EXISTING') return result.session;
    if (result.kind === 'TOMBSTONED') {
      // Revoked, and its row pruned: still refused, and never again asked of the store here.
      this.refused.revokedOrExpired(keyHash, identity.userId, { kind: 'REVOKED', reason: result.reason });
      throw sessionRevoked(result.reason);
    }
    if (result.kind === 'REJECTED') {
      this.refused.limit(keyHash, identity.userId, result.level, result.limit);
      this.hooks.rejected({ identity: who, level: result.level, limit: result.limit });
      throw sessionLimitExceeded(result.level, result.limit);
    }
    if (result.evicted.length) this.revoked(result.evicted, 'EVICTED', null);
    if (result.overLimit) {
      const { level, limit } = result.overLimit;
      this.hooks.rejected({ identity: who, level, limit, allowed: true });
    }
    this.hooks.admitted({
      session: toSessionInfo(result.session),
      identity: who,
      evicted: result.evicted.map(toSessionInfo),
      ...(result.overLimit ? { overLimit: result.overLimit } : {}),
    });
    return result.session;
  }

  /** At most one write per session per `touchInterval`, and never on the request's path. */
  private recordUse(session: StoredSession): StoredSession {
    const now = this.dbNow();
    if (now - session.lastSeenAt.getTime() < this.options.touchIntervalMs) return session;
    const touched = { ...session, lastSeenAt: new Date(now) };
    this.cache.set(touched);
    this.touches.add(session.id, touched.lastSeenAt);
    return touched;
  }

  /** Revokes one session, under the fail-mode guard like every store call a request can reach. */
  revoke(sessionId: string, reason: RevokeReason, note: string | null): Promise<SessionInfo | null> {
    return this.guard('revoke', async () => {
      const changed = await this.store.revokeById(sessionId, reason, note);
      if (changed.length) {
        this.revoked(changed, reason, note);
        return toSessionInfo(changed[0]);
      }
      const existing = await this.store.findById(sessionId);
      return existing ? toSessionInfo(existing) : null;
    });
  }

  revokeUser(userId: string, reason: RevokeReason, note: string | null, exceptSessionId?: string): Promise<SessionInfo[]> {
    return this.guard('revoke', async () => {
      const changed = await this.store.revokeByUser(userId, reason, note, exceptSessionId);
      if (changed.length) this.revoked(changed, reason, note);
      return changed.map(toSessionInfo);
    });
  }

  async isAdmin(identity: Identity): Promise<boolean> {
    return (await this.options.isAdmin(identity)) === true;
  }

  /** After a revoking transaction commits: update this instance, tell the others, call the hook. */
  private revoked(sessions: StoredSession[], reason: RevokeReason, note: string | null): void {
    for (const s of sessions) this.forgetRevoked({ keyHash: s.keyHash, revokedAt: s.revokedAt ?? new Date(), reason });
    // Seats freed here: keys refused at a cap may try again now (an eviction took the seat it freed).
    if (reason !== 'EVICTED') this.refused.seatsFreed(sessions.map((s) => s.userId));
    void this.feed?.publish(sessions);
    this.hooks.revoked({ sessions: sessions.map(toSessionInfo), reason, note });
  }

  /** A revocation learned from the change feed or made here: memory must not serve the session again. */
  forgetRevoked(notice: RevokedNotice): void {
    this.cache.markRevoked(notice.keyHash, notice.revokedAt, notice.reason);
  }

  /** Milliseconds on the database clock, estimated locally from the last measured offset. */
  dbNow(): number {
    return Date.now() + (this.feed?.clockOffsetMs ?? 0);
  }

  /** Writes pending last-seen touches now. */
  flush(): Promise<void> {
    return this.touches.flush();
  }

  stop(): Promise<void> {
    return this.touches.stop();
  }

  /** How many sessions this instance keeps in memory (bounded by `cacheSize`). */
  get cachedSessions(): number {
    return this.cache.size;
  }
}

/** Rejects when `work` has not settled within `ms` (the work itself goes on, unobserved). */
function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the session store did not answer within ${ms} ms`)), ms);
  });
  work.catch(() => {});
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
