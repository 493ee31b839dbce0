/**
 * Validation of the session API's arguments. Every check happens before any SQL runs, so a bad
 * argument is a `BAD_USER_INPUT` naming it, never a database error (which would read as a 5xx).
 */
import { badUserInput } from '../errors.js';
import {
  MAX_FIELD_LENGTH,
  MAX_IP_LENGTH,
  MAX_NOTE_LENGTH,
  MAX_USER_ID_LENGTH,
  SESSION_STATUSES,
  type SessionStatusValue,
  UUID_PATTERN,
} from '../vocabulary.js';
import { type CursorPosition, decodeCursor } from './cursor.js';

export const DEFAULT_PAGE_SIZE = 20;
const MAX_PAGE_SIZE = 100;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** PostgreSQL refuses NUL in text, and lone surrogates cannot be encoded: both would fail in SQL. */
function checkText(argument: string, value: string): void {
  if (value.includes('\u0000')) throw badUserInput(argument, 'must not contain NUL characters.');
  if (LONE_SURROGATE.test(value)) throw badUserInput(argument, 'must be well-formed Unicode.');
}

/** A session id: a UUID as `UserSession.id` shows it. Returned in lower case. */
export function sessionId(argument: string, value: unknown): string {
  if (typeof value !== 'string' || !UUID_PATTERN.test(value)) {
    throw badUserInput(argument, 'expected a session id (a UUID such as 4f9c1e2a-7b3d-4c5e-9f10-2a3b4c5d6e7f).');
  }
  return value.toLowerCase();
}

/** A user id, as the host's `identify` produces them: 1..255 characters. */
export function userId(argument: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_USER_ID_LENGTH) {
    throw badUserInput(argument, `expected a user id of 1..${MAX_USER_ID_LENGTH} characters.`);
  }
  checkText(argument, value);
  return value;
}

/** Page size: 1..100; omitted or null means the default (20). */
export function pageSize(argument: string, value: unknown): number {
  if (value === undefined || value === null) return DEFAULT_PAGE_SIZE;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_PAGE_SIZE) {
    throw badUserInput(argument, `must be between 1 and ${MAX_PAGE_SIZE}, got ${String(value)}.`);
  }
  return value;
}

/** A cursor from `UserSessionEdge.cursor` / `PageInfo.endCursor`, or none. */
export function cursor(argument: string, value: unknown): CursorPosition | null {
  if (value === undefined || value === null) return null;
  const position = typeof value === 'string' ? decodeCursor(value) : null;
  if (!position)
    throw badUserInput(argument, 'not a cursor issued by this API; pass an endCursor or edge cursor unchanged.');
  return position;
}

/** The free-text note of a revocation: at most 200 characters; empty means none. */
export function reason(argument: string, value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw badUserInput(argument, 'expected a string.');
  if (value.length > MAX_NOTE_LENGTH) {
    throw badUserInput(argument, `must be at most ${MAX_NOTE_LENGTH} characters, got ${value.length}.`);
  }
  checkText(argument, value);
  return value.trim() === '' ? null : value;
}

/** The user id or group name a limit rule is for: 1..255 characters. */
export function subject(argument: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_USER_ID_LENGTH) {
    throw badUserInput(argument, `expected 1..${MAX_USER_ID_LENGTH} characters.`);
  }
  checkText(argument, value);
  return value;
}

/** A stored limit: a whole number >= 0, or null/omitted for unlimited. */
export function maxSessions(argument: string, value: unknown): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw badUserInput(argument, `must be a whole number >= 0, or null for unlimited; got ${String(value)}.`);
  }
  return value;
}

/** `USER` or `GROUP`: GraphQL checks the enum, this guards direct calls. */
export function subjectType(argument: string, value: unknown): 'USER' | 'GROUP' {
  if (value !== 'USER' && value !== 'GROUP') throw badUserInput(argument, 'expected USER or GROUP.');
  return value;
}

/** Statuses to list: omitted or null = every status; each one ACTIVE, REVOKED or EXPIRED (duplicates are harmless). */
export function statuses(argument: string, value: unknown): SessionStatusValue[] | null {
  if (value === undefined || value === null) return null;
  if (!Array.isArray(value) || !value.every((s) => SESSION_STATUSES.includes(s as SessionStatusValue))) {
    throw badUserInput(argument, `expected a list of ${SESSION_STATUSES.join(', ')}.`);
  }
  return [...new Set(value as SessionStatusValue[])];
}

/** An IP address to match exactly, as recorded: 1..64 characters. */
export function ipAddress(argument: string, value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_IP_LENGTH) {
    throw badUserInput(argument, `expected an IP address of 1..${MAX_IP_LENGTH} characters.`);
  }
  checkText(argument, value);
  return value;
}

const FIELD_COORDINATE = /^[_A-Za-z][_0-9A-Za-z]*\.[_A-Za-z][_0-9A-Za-z]*$/;

/** A `@uniqueSession` field as leases name it: `Type.field`, e.g. `Query.exam`. */
export function field(argument: string, value: unknown): string {
  if (typeof value !== 'string' || value.length > MAX_FIELD_LENGTH || !FIELD_COORDINATE.test(value)) {
    throw badUserInput(argument, 'expected a field coordinate Type.field, such as Query.exam.');
  }
  return value;
}
