/**
 * Who may be admitted and what a session's state is: plain rules with no Apollo or database
 * imports, so they read like the design and are tested alone.
 */
import type { ExpiryReason, Limit, LimitPolicy, RevokeReason, SessionLimitLevel, Timeouts } from '../vocabulary.js';

export interface SessionTimes {
  createdAt: Date;
  lastSeenAt: Date;
  revokedAt: Date | null;
  revokedReason: RevokeReason | null;
}

export type SessionState =
  | { status: 'ACTIVE' }
  | { status: 'REVOKED'; reason: RevokeReason }
  | { status: 'EXPIRED'; reason: ExpiryReason };

/** Revoked wins over expired; the absolute lifetime wins over idleness. */
export function sessionState(session: SessionTimes, now: number, timeouts: Timeouts): SessionState {
  if (session.revokedAt) return { status: 'REVOKED', reason: session.revokedReason ?? 'REVOKED' };
  if (timeouts.absoluteTimeoutMs !== null && now - session.createdAt.getTime() >= timeouts.absoluteTimeoutMs) {
    return { status: 'EXPIRED', reason: 'ABSOLUTE' };
  }
  if (timeouts.idleTimeoutMs !== null && now - session.lastSeenAt.getTime() >= timeouts.idleTimeoutMs) {
    return { status: 'EXPIRED', reason: 'IDLE' };
  }
  return { status: 'ACTIVE' };
}

/** When the session expires if it is not used again; `null` if never. */
export function expiresAt(session: Pick<SessionTimes, 'createdAt' | 'lastSeenAt'>, timeouts: Timeouts): Date | null {
  const candidates: number[] = [];
  if (timeouts.idleTimeoutMs !== null) candidates.push(session.lastSeenAt.getTime() + timeouts.idleTimeoutMs);
  if (timeouts.absoluteTimeoutMs !== null) candidates.push(session.createdAt.getTime() + timeouts.absoluteTimeoutMs);
  return candidates.length ? new Date(Math.min(...candidates)) : null;
}

export interface LimitSources {
  /** What the `limitFor` option returned; `undefined` = no opinion. */
  fromOption: Limit | undefined;
  /** A stored rule for this user, if any (its value may be `null` = unlimited). */
  userRule: { maxSessions: Limit } | undefined;
  /** Stored rules for the user's groups. */
  groupRules: ReadonlyArray<{ maxSessions: Limit }>;
  /** `user.maxSessions`. */
  defaultUserLimit: Limit;
}

/** docs/contract.md rule 2: the option, else the user's rule, else the most permissive group rule, else the default. */
export function resolveUserLimit(sources: LimitSources): Limit {
  if (sources.fromOption !== undefined) return normalizeLimit(sources.fromOption);
  if (sources.userRule) return sources.userRule.maxSessions;
  if (sources.groupRules.length > 0) {
    return sources.groupRules.reduce<Limit>(
      (best, rule) => (best === null || rule.maxSessions === null ? null : Math.max(best, rule.maxSessions)),
      0,
    );
  }
  return sources.defaultUserLimit;
}

function normalizeLimit(limit: number | null): Limit {
  return limit === null || limit === Infinity ? null : Math.max(0, Math.floor(limit));
}

export interface AdmissionInput {
  policy: LimitPolicy;
  exempt: boolean;
  userLimit: Limit;
  /** Active, non-exempt sessions of the user (counted up to the limit + 1 at most). */
  userActive: number;
  appLimit: Limit;
  /** Active, non-exempt sessions in the app. */
  appActive: number;
}

export type AdmissionDecision =
  | { outcome: 'ADMIT'; evict: number; overLimit?: { level: SessionLimitLevel; limit: number } }
  | { outcome: 'REJECT'; level: SessionLimitLevel; limit: number };

/** docs/contract.md rules 3 and 4. The app cap only ever rejects; eviction frees app seats too. */
export function decideAdmission(input: AdmissionInput): AdmissionDecision {
  if (input.exempt) return { outcome: 'ADMIT', evict: 0 };
  let evict = 0;
  let overLimit: { level: SessionLimitLevel; limit: number } | undefined;
  if (input.userLimit !== null && input.userActive >= input.userLimit) {
    if (input.policy === 'REJECT_NEW') return { outcome: 'REJECT', level: 'USER', limit: input.userLimit };
    if (input.policy === 'EVICT_OLDEST') {
      // A limit of 0 admits nobody: evicting cannot make room.
      if (input.userLimit === 0) return { outcome: 'REJECT', level: 'USER', limit: 0 };
      evict = input.userActive - input.userLimit + 1;
    } else {
      overLimit = { level: 'USER', limit: input.userLimit };
    }
  }
  if (input.appLimit !== null && input.appActive - evict >= input.appLimit) {
    return { outcome: 'REJECT', level: 'APP', limit: input.appLimit };
  }
  return overLimit ? { outcome: 'ADMIT', evict, overLimit } : { outcome: 'ADMIT', evict };
}
