/**
 * Opaque keyset cursors for `activeSessions`: a position in the order (created_at desc, id desc).
 *
 * The position keeps the database's microseconds (a JavaScript `Date` has only milliseconds, and
 * rounding would skip or repeat sessions created within one millisecond). A cursor is decoded
 * strictly: anything this API did not produce is refused, so it never reaches SQL as garbage.
 */
import { UUID_PATTERN } from '../vocabulary.js';

/** Where a page ended: the creation time (UTC, microseconds, as the database formats it) and the id. */
export interface CursorPosition {
  /** e.g. `2026-11-25T16:45:50.123456Z` */
  createdAt: string;
  /** lower-case UUID */
  id: string;
}

const VERSION = 'v1';
const MAX_CURSOR_LENGTH = 128;
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{6})Z$/;

export function encodeCursor(position: CursorPosition): string {
  return Buffer.from(`${VERSION}|${position.createdAt}|${position.id}`, 'utf8').toString('base64url');
}

/** The position, or `null` if the text is not a cursor this API issued. */
export function decodeCursor(cursor: string): CursorPosition | null {
  if (cursor.length === 0 || cursor.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_-]+$/.test(cursor)) return null;
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  // Node's decoder skips what it does not understand; only a canonical encoding is ours.
  if (Buffer.from(text, 'utf8').toString('base64url') !== cursor) return null;
  const parts = text.split('|');
  if (parts.length !== 3 || parts[0] !== VERSION) return null;
  const [, createdAt, id] = parts;
  if (!isTimestamp(createdAt) || !UUID_PATTERN.test(id) || id !== id.toLowerCase()) return null;
  return { createdAt, id };
}

/** A real instant in 1970..9999, so the database parses it without complaint. */
function isTimestamp(value: string): boolean {
  const match = TIMESTAMP.exec(value);
  if (!match) return false;
  if (Number(match[1]) < 1970) return false;
  const millis = `${value.slice(0, 23)}Z`;
  const parsed = new Date(millis);
  // Round-tripping rejects 2026-02-30, 25:00 and the like, which Date would silently roll over.
  return !Number.isNaN(parsed.getTime()) && parsed.toISOString() === millis;
}
