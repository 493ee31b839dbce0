/**
 * docs/contract.md rule 8 as plain functions: who may see and end which sessions. No Apollo, no database:
 * the caller's admin status is computed once by the API and passed in.
 */
import type { RevokeReason } from '../vocabulary.js';

/** How a caller relates to a session or a user's sessions. */
export type Access = 'OWN' | 'ADMIN' | 'NONE';

/** A user reaches its own sessions; an admin reaches everyone's. */
export function accessTo(callerUserId: string, ownerUserId: string, callerIsAdmin: boolean): Access {
  if (callerUserId === ownerUserId) return 'OWN';
  return callerIsAdmin ? 'ADMIN' : 'NONE';
}

/** The code recorded for a revocation through the API: the owner's own, or an admin's on someone else's. */
export function revokeReasonFor(access: Exclude<Access, 'NONE'>): RevokeReason {
  return access === 'OWN' ? 'REVOKED' : 'ADMIN_REVOKED';
}
