/**
 * "Alive" and "dead" as SQL conditions, written once so that every statement agrees with
 * `policy/admission.ts` on what a live session is.
 */
import type { Timeouts } from '../vocabulary.js';

/** A parameter in milliseconds as a PostgreSQL interval: the one way the store writes a duration. */
export const MILLISECONDS = `(?::double precision * interval '1 millisecond')`;

/** A fragment of SQL and the values of its `?` placeholders, in order. */
export interface Condition {
  sql: string;
  params: unknown[];
}

/** Sessions that are neither revoked nor expired, by the database clock. */
export function aliveCondition(timeouts: Timeouts, alias = 's'): Condition {
  const parts = [`${alias}.revoked_at is null`];
  const params: unknown[] = [];
  if (timeouts.idleTimeoutMs !== null) {
    parts.push(`${alias}.last_seen_at > now() - ${MILLISECONDS}`);
    params.push(timeouts.idleTimeoutMs);
  }
  if (timeouts.absoluteTimeoutMs !== null) {
    parts.push(`${alias}.created_at > now() - ${MILLISECONDS}`);
    params.push(timeouts.absoluteTimeoutMs);
  }
  return { sql: parts.join(' and '), params };
}

/** Sessions revoked, or expired, longer ago than `retentionMs` (by the database clock). */
export function deadCondition(timeouts: Timeouts, retentionMs: number, alias = 's'): Condition {
  const parts = [`${alias}.revoked_at < now() - ${MILLISECONDS}`];
  const params: unknown[] = [retentionMs];
  if (timeouts.idleTimeoutMs !== null) {
    parts.push(`(${alias}.revoked_at is null and ${alias}.last_seen_at < now() - ${MILLISECONDS})`);
    params.push(timeouts.idleTimeoutMs + retentionMs);
  }
  if (timeouts.absoluteTimeoutMs !== null) {
    parts.push(`(${alias}.revoked_at is null and ${alias}.created_at < now() - ${MILLISECONDS})`);
    params.push(timeouts.absoluteTimeoutMs + retentionMs);
  }
  return { sql: `(${parts.join(' or ')})`, params };
}
