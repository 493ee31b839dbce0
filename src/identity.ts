/**
 * The host's identity of a request: checked, the session key hashed (never stored) and left out of
 * anything shown.
 */
import { createHash, hash as oneShotHash } from 'node:crypto';
import type { GraphQLError } from 'graphql';
import { unauthenticated } from './errors.js';
import { MAX_USER_ID_LENGTH } from './vocabulary.js';

/** What the host's `identify(contextValue)` returns for a signed-in request. */
export interface Identity {
  /** The user the session belongs to. */
  userId: string;
  /** The host's secret session key (e.g. a token id). Only its SHA-256 digest is stored. */
  sessionKey: string;
  /** Groups the user belongs to; stored `GROUP` limit rules apply to them. */
  groups?: readonly string[];
  /** Recorded on admission. */
  ip?: string | null;
  /** Recorded on admission. */
  userAgent?: string | null;
  /** Recorded and listed, never limited nor counted. */
  exempt?: boolean;
  /**
   * When the session key stops being valid for the host (e.g. the token's `exp`), as a `Date` or
   * milliseconds since the epoch. Recorded on admission: once the session is revoked and its row
   * pruned, a tombstone of the key's digest refuses it until then (else for `tombstoneTtl`).
   */
  expiresAt?: Date | number;
}

/** An identity as hooks see it: everything but the secret key. */
export type PublicIdentity = Omit<Identity, 'sessionKey'>;

/**
 * SHA-256 in hex. `crypto.hash` (Node >= 20.12) digests a short string in a third of the time of
 * `createHash` (no Hash object per call): this runs on every request of the hot path.
 */
const sha256Hex: (value: string) => string =
  typeof oneShotHash === 'function'
    ? (value) => oneShotHash('sha256', value, 'hex')
    : (value) => createHash('sha256').update(value).digest('hex');

/** The digest the store keeps instead of the key, so a database leak reveals no usable key. */
export function hashSessionKey(sessionKey: string): string {
  return sha256Hex(sessionKey);
}

export function publicIdentity(identity: Identity): PublicIdentity {
  const { sessionKey: _secret, ...rest } = identity;
  return rest;
}

/**
 * `identify` is host code; a malformed result is a host bug that must not reach the database
 * as garbage, so it fails the request with a message that names what is wrong (never the key).
 */
export function checkIdentity(value: unknown): Identity | null {
  if (value === null || value === undefined) return null;
  const identity = value as Identity;
  if (typeof identity !== 'object') throw invalidIdentity('identify() must return an object or null');
  if (typeof identity.userId !== 'string' || identity.userId === '' || identity.userId.length > MAX_USER_ID_LENGTH) {
    throw invalidIdentity(`identify() returned no valid userId (a string of 1..${MAX_USER_ID_LENGTH} characters)`);
  }
  if (typeof identity.sessionKey !== 'string' || identity.sessionKey === '') {
    throw invalidIdentity('identify() returned no sessionKey (a non-empty string)');
  }
  if (identity.groups !== undefined && !Array.isArray(identity.groups)) {
    throw invalidIdentity('identify() returned groups that are not an array of strings');
  }
  if (identity.expiresAt !== undefined && keyExpiry(identity) === null) {
    throw invalidIdentity(
      'identify() returned an expiresAt that is not a valid Date or a number of milliseconds since the epoch',
    );
  }
  return identity;
}

/** `identity.expiresAt` as a Date; `null` when absent or invalid. */
export function keyExpiry(identity: Pick<Identity, 'expiresAt'>): Date | null {
  const value = identity.expiresAt;
  if (value === undefined || value === null) return null;
  const ms = value instanceof Date ? value.getTime() : typeof value === 'number' ? value : Number.NaN;
  // The range of a JavaScript Date, which timestamptz also holds.
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms) : null;
}

function invalidIdentity(message: string): GraphQLError {
  return unauthenticated(message);
}
