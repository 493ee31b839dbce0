/**
 * What the command line prints: aligned tables for people, JSON for scripts. Only the public
 * view of a session goes in (`UserSessionView`): never a key, never its digest.
 */
import type { UserSessionView } from '../api/views.js';
import type { LimitRule } from '../store/limit-rule-table.js';
import { printable, printableJson } from './printable.js';

/** Where the command line writes; a test or a host may give its own. */
export interface Output {
  out(text: string): void;
  err(text: string): void;
  /** Whether stderr is a terminal: progress then rewrites one line instead of adding lines. */
  errIsTTY: boolean;
}

/** A session as `sessions list --json` prints it: `UserSession` of the GraphQL API, without `current`. */
export type SessionRecordJson = Omit<UserSessionView, 'current'>;

export function sessionJson(view: UserSessionView): SessionRecordJson {
  const { current: _current, ...rest } = view;
  return rest;
}

/** `2026-11-28 05:30:12Z`: UTC to the second, readable in a table. */
function time(value: Date | null): string {
  return value ? `${value.toISOString().slice(0, 19).replace('T', ' ')}Z` : '';
}

/**
 * Columns padded to their widest cell, two spaces apart; the last column is not padded. Every
 * cell is printed with its control characters escaped (printable.ts): cells come from the database.
 */
function table(header: string[], cells: string[][]): string {
  const rows = cells.map((row) => row.map(printable));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export function sessionsTable(sessions: UserSessionView[]): string {
  return table(
    ['ID', 'USER', 'STATUS', 'CREATED', 'LAST SEEN', 'IP', 'DEVICE', 'REVOKED'],
    sessions.map((s) => [
      s.id,
      s.userId,
      s.status,
      time(s.createdAt),
      time(s.lastSeenAt),
      s.ipAddress ?? '',
      device(s),
      revoked(s),
    ]),
  );
}

function device(s: UserSessionView): string {
  if (!s.device) return '';
  const parts = [s.device.browser, s.device.os].filter(Boolean).join(', ');
  return parts ? `${s.device.type}: ${parts}` : s.device.type;
}

function revoked(s: UserSessionView): string {
  if (!s.revokedAt) return '';
  const by = s.revokedBy ? ` by ${s.revokedBy}` : '';
  const note = s.revokedNote ? ` (${s.revokedNote})` : '';
  return `${s.revokedReason ?? 'REVOKED'}${by} at ${time(s.revokedAt)}${note}`;
}

export function rulesTable(rules: LimitRule[]): string {
  return table(
    ['TYPE', 'SUBJECT', 'MAX SESSIONS'],
    rules.map((r) => [r.subjectType, r.subject, r.maxSessions === null ? 'unlimited' : String(r.maxSessions)]),
  );
}

/** Pretty JSON, with no control character left raw (printable.ts). */
export function json(value: unknown): string {
  return printableJson(value);
}

/** `1234567` → `1,234,567`. */
export function count(n: number): string {
  return n.toLocaleString('en-US');
}
