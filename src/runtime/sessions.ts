/**
 * Sessions at run time: the request check (memory first, then the store), admission, revocation,
 * and the fail-mode guard around every store call a request can reach.
 */

import { GraphQLError } from 'graphql';
import { sessionExpired, sessionLimitExceeded, sessionRevoked, storeUnavailable, unauthenticated } from '../errors.js';
import { type HookRunner, isThenable } from '../hooks.js';
import { checkIdentity, hashSessionKey, type Identity, keyExpiry, publicIdentity } from '../identity.js';
import type { ResolvedOptions } from '../options.js';
import { expiresAt, sessionState } from '../policy/admission.js';
import { type StoredSession, toSessionInfo } from '../store/rows.js';
import type { SessionTable } from '../store/session-table.js';
import {
  clipped,
  type Limit,
  MAX_IP_LENGTH,
  MAX_USER_AGENT_LENGTH,
  type RevokeOptions,
  type RevokeReason,
  type SessionInfo,
  type Timeouts,
} from '../vocabulary.js';
import type { ChangeFeed } from './change-feed.js';
import type { Governed, SessionRuntime } from './contracts.js';
import type { DbClock } from './db-clock.js';
import type { ChangeSink } from './fan-out.js';
import type { HostFunctions } from './host-functions.js';
import { RefusedKeys } from './refused-keys.js';
import type { SessionCache } from './session-cache.js';
import type { SessionTouches } from './session-touches.js';

/**
 * How long a session that memory knows, but can no longer vouch for (`maxStaleness` passed), may
 * wait on the store before `failMode` decides: a stalled link must not hold requests for the
 * driver's 10 s timeout.
 */
export const STALE_CHECK_DEADLINE_MS = 1_000;

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

type RuntimeOptions = Pick<ResolvedOptions, 'onLimit' | 'failMode' | 'timeouts' | 'cacheSize'>;

/** What a `Sessions` works with, each complete when it is built (assembled by src/controller.ts). */
export interface SessionsParts {
  table: SessionTable;
  hooks: HookRunner;
  /** The host's functions, guarded. */
  host: HostFunctions;
  clock: DbClock;
  /** This instance's memory of sessions; the fan-out marks revocations in it. */
  cache: SessionCache;
  /** Records a served session's use. */
  touches: Pick<SessionTouches, 'record'>;
  /** Memory may answer only while the feed is fresh. */
  feed: Pick<ChangeFeed, 'isFresh'>;
  /** Where this instance's own changes go once committed. */
  changes: ChangeSink;
}

/** The session runtime: look-up, admission and revocation behind `SessionRuntime`. */
export class Sessions implements SessionRuntime {
  readonly timeouts: Timeouts;
  readonly limits: Governance['limits'];
  private readonly table: SessionTable;
  private readonly hooks: HookRunner;
  private readonly host: HostFunctions;
  private readonly clock: DbClock;
  private readonly cache: SessionCache;
  private readonly touches: Pick<SessionTouches, 'record'>;
  private readonly feed: Pick<ChangeFeed, 'isFresh'>;
  private readonly changes: ChangeSink;
  /** Concurrent requests with one key on one instance share a single database look-up. */
  private readonly inFlight = new Map<string, Promise<StoredSession>>();
  /** Keys refused here: repeated from memory, so a retrying client costs no transaction (docs/design.md, "Refused keys"). */
  private readonly refused: RefusedKeys;

  constructor(
    private readonly options: RuntimeOptions,
    limits: Governance['limits'],
    parts: SessionsParts,
  ) {
    this.timeouts = options.timeouts;
    this.limits = limits;
    this.table = parts.table;
    this.hooks = parts.hooks;
    this.host = parts.host;
    this.clock = parts.clock;
    this.cache = parts.cache;
    this.touches = parts.touches;
    this.feed = parts.feed;
    this.changes = parts.changes;
    this.refused = new RefusedKeys(options.cacheSize);
  }

  identify(contextValue: unknown): Identity | null | Promise<Identity | null> {
    return this.host.identify(contextValue);
  }

  govern(contextValue: unknown): Governed | Promise<Governed> {
    const identified = this.identify(contextValue);
    if (isThenable<Identity | null>(identified))
      return Promise.resolve(identified).then((identity) => this.governIdentity(identity));
    return this.governIdentity(identified);
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
    const session = await this.guard('openSession', async () => {
      const remembered = this.fromMemory(checked, keyHash);
      if (remembered && remembered !== STALE) return remembered;
      if (!remembered) this.repeatRefusal(checked, keyHash);
      return this.serveFromStore(checked, keyHash, { expectNew: true });
    });
    return toSessionInfo(session);
  }

  async guard<T>(operation: string, run: () => Promise<T>, openFallback?: () => T): Promise<T> {
    try {
      const result = await run();
      this.hooks.storeAnswered();
      return result;
    } catch (error) {
      if (error instanceof GraphQLError) throw error;
      this.hooks.storeFailed(operation, error as Error);
      if (this.options.failMode === 'open' && openFallback) return openFallback();
      throw storeUnavailable(error);
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
    return this.feed.isFresh() ? this.touches.record(cached) : STALE;
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
  private async serveFromStore(
    identity: Identity,
    keyHash: string,
    { expectNew = false } = {},
  ): Promise<StoredSession> {
    const session = await this.loadOrAdmit(keyHash, identity, expectNew);
    // A key the host hands to two users is a host bug; refusing is the only safe answer.
    if (session.userId !== identity.userId) throw unauthenticated('This session belongs to another user.');
    const state = sessionState(session, this.dbNow(), this.timeouts);
    if (state.status === 'REVOKED') throw sessionRevoked(state.reason);
    if (state.status === 'EXPIRED') {
      const expiredFor = this.dbNow() - (expiresAt(session, this.timeouts)?.getTime() ?? Number.POSITIVE_INFINITY);
      if (expiredFor >= EXPIRED_FINAL_AFTER_MS)
        this.refused.revokedOrExpired(keyHash, identity.userId, { kind: 'EXPIRED', reason: state.reason });
      throw sessionExpired(state.reason);
    }
    return this.touches.record(session);
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
        const known = expectNew ? null : await this.table.findByKeyHash(keyHash);
        const found = known ?? (await this.admit(keyHash, identity));
        this.cache.set(found);
        return found;
      })().finally(() => this.inFlight.delete(keyHash));
      this.inFlight.set(keyHash, pending);
    }
    return pending;
  }

  private async admit(keyHash: string, identity: Identity): Promise<StoredSession> {
    const exempt = this.host.isExempt(identity);
    const { limitFor } = this.host;
    // `null` is an answer (unlimited), not "no opinion": only `undefined` falls through to the rules.
    const limitFromOption: Limit | undefined = exempt || !limitFor ? undefined : await limitFor(identity);
    const started = performance.now();
    const result = await this.table.admit({
      keyHash,
      userId: identity.userId,
      groups: identity.groups ?? [],
      ipAddress: clipped(identity.ip, MAX_IP_LENGTH),
      userAgent: clipped(identity.userAgent, MAX_USER_AGENT_LENGTH),
      exempt,
      limitFromOption,
      defaultUserLimit: this.limits.defaultUserLimit,
      appLimit: this.limits.appLimit,
      policy: this.options.onLimit,
      keyExpiresAt: keyExpiry(identity),
    });
    const seconds = (performance.now() - started) / 1000;
    const who = publicIdentity(identity);
    if (result.kind === 'EXISTING') return result.session;
    if (result.kind === 'TOMBSTONED') {
      // Revoked, and its row pruned: still refused, and never again asked of the store here.
      this.refused.revokedOrExpired(keyHash, identity.userId, { kind: 'REVOKED', reason: result.reason });
      throw sessionRevoked(result.reason);
    }
    if (result.kind === 'REJECTED') {
      this.hooks.admission('rejected', result.level, seconds);
      this.refused.limit(keyHash, identity.userId, result.level, result.limit);
      this.hooks.rejected({ identity: who, level: result.level, limit: result.limit });
      throw sessionLimitExceeded(result.level, result.limit);
    }
    if (result.evicted.length) this.hooks.admission('evicted', 'USER', seconds);
    else if (result.overLimit) this.hooks.admission('logged', result.overLimit.level, seconds);
    else this.hooks.admission('admitted', null, seconds);
    if (result.evicted.length) this.revoked(result.evicted, 'EVICTED', null, null);
    if (result.overLimit) {
      const { level, limit } = result.overLimit;
      this.hooks.rejected({ identity: who, level, limit, allowed: true });
    }
    this.changes.changed([{ kind: 'ADMITTED', sessionId: result.session.id, userId: result.session.userId }]);
    this.hooks.admitted({
      session: toSessionInfo(result.session),
      identity: who,
      evicted: result.evicted.map(toSessionInfo),
      ...(result.overLimit ? { overLimit: result.overLimit } : {}),
    });
    return result.session;
  }

  /** Revokes one session, under the fail-mode guard like every store call a request can reach. */
  revoke(
    sessionId: string,
    reason: RevokeReason,
    note: string | null,
    { by = null }: RevokeOptions = {},
  ): Promise<SessionInfo | null> {
    return this.guard('revoke', async () => {
      const changed = await this.table.revokeById(sessionId, reason, note, by);
      if (changed.length) {
        this.revoked(changed, reason, note, by);
        return toSessionInfo(changed[0]);
      }
      const existing = await this.table.findById(sessionId);
      return existing ? toSessionInfo(existing) : null;
    });
  }

  revokeUser(
    userId: string,
    reason: RevokeReason,
    note: string | null,
    exceptSessionId?: string,
    { by = null }: RevokeOptions = {},
  ): Promise<SessionInfo[]> {
    return this.guard('revoke', async () => {
      const changed = await this.table.revokeByUser(userId, reason, note, exceptSessionId, by);
      if (changed.length) this.revoked(changed, reason, note, by);
      return changed.map(toSessionInfo);
    });
  }

  /** Every live session of many users, in one transaction; one change batch tells the fleet. */
  revokeUsers(
    userIds: readonly string[],
    reason: RevokeReason,
    note: string | null,
    { by = null }: RevokeOptions = {},
  ): Promise<SessionInfo[]> {
    return this.guard('revoke', async () => {
      const changed = await this.table.revokeByUsers(userIds, reason, note, by);
      if (changed.length) this.revoked(changed, reason, note, by);
      return changed.map(toSessionInfo);
    });
  }

  isAdmin(identity: Identity): Promise<boolean> {
    return this.host.isAdmin(identity);
  }

  /** After a revoking transaction commits: this instance and the others learn it, then the hook. */
  private revoked(
    sessions: StoredSession[],
    reason: RevokeReason,
    note: string | null,
    revokedBy: string | null,
  ): void {
    this.changes.changed(
      sessions.map((s) => ({
        kind: 'REVOKED',
        keyHash: s.keyHash,
        sessionId: s.id,
        userId: s.userId,
        revokedAt: s.revokedAt ?? new Date(),
        reason,
      })),
    );
    // Seats freed here: keys refused at a cap may try again now (an eviction took the seat it freed).
    if (reason !== 'EVICTED') this.refused.placesFreed(sessions.map((s) => s.userId));
    this.hooks.revoked({ sessions: sessions.map(toSessionInfo), reason, note, revokedBy });
  }

  /** Milliseconds on the database clock (src/runtime/db-clock.ts). */
  dbNow(): number {
    return this.clock.now();
  }

  /** How many sessions this instance keeps in memory (bounded by `cacheSize`). */
  get cachedSessions(): number {
    return this.cache.size;
  }
}

/** Rejects when `work` has not settled within `ms` (the work itself goes on, unobserved). */
export function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the session store did not answer within ${ms} ms`)), ms);
  });
  work.catch(() => {});
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
