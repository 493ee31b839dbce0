/**
 * The library's shared words, in one place: every module that speaks of a status, a level, a
 * reason, a policy or a scope takes the word from here, from the option to the SQL column.
 * Plain types and constants only, so that any module may import it without pulling in others.
 *
 * Glossary: one word per concept, in identifiers, comments and docs/design.md ("Glossary").
 * - session: one sign-in of a user, a row of `gsc_session`, found by the digest of its key.
 * - admission: recording a new session, checked against the caps in one transaction.
 * - cap: how many live sessions fit, for the whole app (`app.maxSessions`) or one user (`user.maxSessions`).
 * - place: room for one more session under a cap; a session that ends frees a place
 *   (`RefusedKeys.placesFreed`). Never "seat".
 * - lease: what a session holds on a `@uniqueSession` field while it uses it (`gsc_lease`), at
 *   most `max` per scope; taken, renewed, released, revoked, evicted. The contract's word; user
 *   docs may say "seat" for it ("500 licensed seats"), identifiers never do.
 * - lease keeper: keeps the leases of live subscriptions renewed (`LeaseKeeper`).
 * - scope: whose sessions share a field's leases, one user's (`USER`) or everyone's (`APP`).
 * - govern: check a request, a connection or a subscription against its session (look-up,
 *   admission, status); "governed" is what was checked so. Not the kill switch.
 * - enabled: the kill switch, the option `enabled`; its off state is "disabled"
 *   (`disabledPlugin`, `markSchemaDisabled`, `DISABLED_GOVERNANCE`). Never "inert", "governs".
 * - store: the database the library keeps its state in, and `Store`, the one way to it
 *   (src/store/store.ts); "the store is away" is an outage of it (`failMode`).
 * - table: one part of the store, the statements of one table (`SessionTable`, `LeaseTable`,
 *   `LimitRuleTable`, `AppCountTable`); the pruning job's part is `PruneBatches`.
 * - reads: the session API's read statements, pages, counts, one session (`SessionReads`,
 *   `store.reads`); a listing is a read a read replica may serve (`store.listings`).
 * - pool share: the session API's share of the connection pool, taken in turns per caller
 *   (`FairQueue`, `SessionApi.poolShare`, `inTurn`).
 * - query: a GraphQL query only (an operation or a `Query` field); SQL is a "statement".
 * - revoke: end a session before it expires, for a reason (`RevokeReason`); evict: revoke the
 *   oldest to make a place or a lease free (`EVICT_OLDEST`); expire: end by time (`ExpiryReason`).
 * - tombstone: what a pruned revoked session leaves, so that its key stays refused.
 * - status: `ACTIVE`, `REVOKED` or `EXPIRED`, by the database clock, never this process's.
 * - refusal: a request refused at a cap, a lease or a status, with its error code.
 */

/**
 * A session's derived status, by the database clock (docs/contract.md §2): the values of the
 * GraphQL enum `SessionStatus`, whose type-graphql class keeps that name (`/type-graphql`).
 */
export type SessionStatusValue = 'ACTIVE' | 'REVOKED' | 'EXPIRED';
export const SESSION_STATUSES: readonly SessionStatusValue[] = ['ACTIVE', 'REVOKED', 'EXPIRED'];

/** Which cap refused: the whole app, one user, or one field (the seed's "view"). */
export type LimitLevel = 'APP' | 'USER' | 'VIEW';

/** The caps a session admission is checked against (fields have leases instead). */
export type SessionLimitLevel = Exclude<LimitLevel, 'VIEW'>;

/** Why a session was revoked; stored as `revoked_reason`, shown as `revokedReason`. */
export type RevokeReason = 'EVICTED' | 'REVOKED' | 'ADMIN_REVOKED' | 'LOGOUT';
export const REVOKE_REASONS: readonly RevokeReason[] = ['EVICTED', 'REVOKED', 'ADMIN_REVOKED', 'LOGOUT'];

/** How a revocation is recorded (`SessionController.revoke`). */
export interface RevokeOptions {
  /** Stored as `revokedReason`; the facade's default depends on the call. */
  reason?: RevokeReason;
  /** Free text stored as `revokedNote` (at most `MAX_NOTE_LENGTH`). */
  note?: string | null;
  /** Who revokes, for `revokedBy`: the caller's user id; none for code without a caller. */
  by?: string | null;
}

/** `SessionController.revokeUser`'s options: those of `revoke`, and the one session to keep. */
export interface RevokeUserOptions extends RevokeOptions {
  /** The id of a session of the user that stays signed in (e.g. the caller's own). */
  except?: string;
}

/** Why a session expired. */
export type ExpiryReason = 'IDLE' | 'ABSOLUTE';

/** What happens at a cap or at a field's lease limit, `max` (docs/contract.md rule 3 and rule 6). */
export type LimitPolicy = 'REJECT_NEW' | 'EVICT_OLDEST' | 'LOG_ONLY';
export const LIMIT_POLICIES: readonly LimitPolicy[] = ['REJECT_NEW', 'EVICT_OLDEST', 'LOG_ONLY'];

/** Whose sessions share a field's leases: one user's (`USER`) or everyone's (`APP`, licence seats). */
export type SessionScope = 'USER' | 'APP';
export const SESSION_SCOPES: readonly SessionScope[] = ['USER', 'APP'];

/** What a stored limit rule applies to: the values of the GraphQL enum `LimitSubject`. */
export type LimitSubjectValue = 'USER' | 'GROUP';

/** A number of sessions, or `null` for unlimited. */
export type Limit = number | null;

/** When sessions expire, in milliseconds; `null` = never. */
export interface Timeouts {
  idleTimeoutMs: number | null;
  absoluteTimeoutMs: number | null;
}

/**
 * The free-text note of a revocation, in UTF-16 code units as JavaScript counts; the column
 * (`revoked_note varchar(200)`) holds as many characters, so a checked note always fits.
 */
export const MAX_NOTE_LENGTH = 200;

/** The longest user id (`user_id varchar(255)`) and limit-rule subject. */
export const MAX_USER_ID_LENGTH = 255;

/** The longest client strings the store keeps (`ip_address varchar(64)`, `user_agent varchar(512)`). */
export const MAX_IP_LENGTH = 64;
export const MAX_USER_AGENT_LENGTH = 512;

/**
 * A client-supplied string as a column can hold it: at most `max` characters (PostgreSQL counts
 * code points, so a character outside the Basic Multilingual Plane is never cut in half), without
 * NUL (PostgreSQL text cannot hold one). Longer input is cut, never refused: a long User-Agent is
 * no reason to fail a login.
 */
export function clipped(value: string | null | undefined, max: number): string | null {
  if (value === null || value === undefined) return null;
  const clean = value.includes('\u0000') ? value.replaceAll('\u0000', '') : value;
  if (clean.length <= max) return clean;
  return Array.from(clean).slice(0, max).join('');
}

/** The longest `@uniqueSession` field coordinate, `Type.field` (`gsc_lease.field varchar(255)`). */
export const MAX_FIELD_LENGTH = 255;

/** What kind of device a session's user agent names (docs/contract.md §9), as the parser tells. */
export type DeviceType = 'desktop' | 'mobile' | 'tablet' | 'bot' | 'unknown';
export const DEVICE_TYPES: readonly DeviceType[] = ['desktop', 'mobile', 'tablet', 'bot', 'unknown'];

/** A session's public id: a UUID, any case. */
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A stored session as the library exposes it: never the key, nor its digest. */
export interface SessionInfo {
  id: string;
  userId: string;
  createdAt: Date;
  lastSeenAt: Date;
  revokedAt: Date | null;
  revokedReason: RevokeReason | null;
  revokedNote: string | null;
  /** The user id of the caller that revoked it; `null` for evictions and revocations without a caller. */
  revokedBy: string | null;
  ipAddress: string | null;
  userAgent: string | null;
  exempt: boolean;
}
