import type { LimitLevel, RevokeReason } from './errors.js';
import type { PublicIdentity } from './identity.js';

/** A stored session as the library exposes it: never the key, nor its digest. */
export interface SessionInfo {
  id: string;
  userId: string;
  createdAt: Date;
  lastSeenAt: Date;
  revokedAt: Date | null;
  revokedReason: RevokeReason | null;
  revokedNote: string | null;
  ipAddress: string | null;
  userAgent: string | null;
  exempt: boolean;
}

export interface AdmitEvent {
  session: SessionInfo;
  identity: PublicIdentity;
  /** Sessions revoked to make room (`EVICT_OLDEST`). */
  evicted: SessionInfo[];
  /** Set when `LOG_ONLY` admitted a session over a cap. */
  overLimit?: { level: LimitLevel; limit: number };
}

export interface RejectEvent {
  identity: PublicIdentity;
  level: LimitLevel;
  limit: number;
  /** `Type.field` for a refused `@uniqueSession` lease. */
  field?: string;
  /** For leases: `LOG_ONLY` let the caller through anyway. */
  allowed?: boolean;
}

export interface RevokeEvent {
  sessions: SessionInfo[];
  reason: RevokeReason;
  note: string | null;
}

export interface StoreErrorEvent {
  operation: string;
  error: Error;
}
