/**
 * Session rows as the store reads them and as `SessionInfo` shows them: the columns listed once, the
 * key's digest only where the cache needs it.
 */
import type { RevokeReason, SessionInfo } from '../vocabulary.js';

/** The columns of a session that the store hands out (with the key's digest, which the cache is keyed by). */
export const SESSION_COLUMNS = `s.id, s.user_id, s.key_hash, s.created_at, s.last_seen_at, s.revoked_at, s.revoked_reason,
  s.revoked_note, s.revoked_by, s.ip_address, s.user_agent, s.exempt`;

/** The same without the digest: what the session API's queries select, so no response can carry it. */
export const PUBLIC_SESSION_COLUMNS = `s.id, s.user_id, s.created_at, s.last_seen_at, s.revoked_at, s.revoked_reason,
  s.revoked_note, s.revoked_by, s.ip_address, s.user_agent, s.exempt`;

/** A session row without its digest. */
export interface PublicSessionRow {
  id: string;
  user_id: string;
  created_at: Date | string;
  last_seen_at: Date | string;
  revoked_at: Date | string | null;
  revoked_reason: string | null;
  revoked_note: string | null;
  revoked_by: string | null;
  ip_address: string | null;
  user_agent: string | null;
  exempt: boolean;
}

export interface SessionRow extends PublicSessionRow {
  key_hash: string;
}

/** A session as the store hands it out: the public info plus the digest the cache is keyed by. */
export interface StoredSession extends SessionInfo {
  keyHash: string;
}

const toDate = (value: Date | string): Date => (value instanceof Date ? value : new Date(value));

export function toPublicSession(row: PublicSessionRow): SessionInfo {
  return {
    id: row.id,
    userId: row.user_id,
    createdAt: toDate(row.created_at),
    lastSeenAt: toDate(row.last_seen_at),
    revokedAt: row.revoked_at === null ? null : toDate(row.revoked_at),
    revokedReason: row.revoked_reason as RevokeReason | null,
    revokedNote: row.revoked_note,
    revokedBy: row.revoked_by ?? null,
    ipAddress: row.ip_address,
    userAgent: row.user_agent,
    exempt: Boolean(row.exempt),
  };
}

export function toStoredSession(row: SessionRow): StoredSession {
  return { ...toPublicSession(row), keyHash: row.key_hash };
}

/** Strips the digest: what hooks and the API may see. */
export function toSessionInfo(session: StoredSession): SessionInfo {
  const { keyHash: _digest, ...info } = session;
  return info;
}
