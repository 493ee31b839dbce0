/**
 * Stored limit rules (the seed's per-group session settings). Admission reads this table inside
 * its own transaction, so a change here takes effect at the next admission on every instance
 * without any notification.
 */
import type { Sql } from './session-store.js';

export type LimitSubjectType = 'USER' | 'GROUP';

export interface LimitRule {
  subjectType: LimitSubjectType;
  subject: string;
  /** `null` = unlimited. */
  maxSessions: number | null;
}

interface RuleRow {
  subject_type: LimitSubjectType;
  subject: string;
  max_sessions: number | null;
}

const toRule = (row: RuleRow): LimitRule => ({
  subjectType: row.subject_type,
  subject: row.subject,
  maxSessions: row.max_sessions === null ? null : Number(row.max_sessions),
});

/** Every rule: users first, then groups, each by subject. */
export async function listLimitRules(sql: Sql): Promise<LimitRule[]> {
  const rows = await sql.all<RuleRow>(
    `select r.subject_type, r.subject, r.max_sessions from gsc_limit_rule r
      order by case r.subject_type when 'USER' then 0 else 1 end, r.subject`,
  );
  return rows.map(toRule);
}

/** Creates or replaces the rule for one subject. */
export async function setLimitRule(sql: Sql, rule: LimitRule): Promise<LimitRule> {
  const row = await sql.one<RuleRow>(
    `insert into gsc_limit_rule as r (subject_type, subject, max_sessions, updated_at)
     values (?, ?, ?, now())
     on conflict (subject_type, subject) do update set max_sessions = excluded.max_sessions, updated_at = now()
     returning r.subject_type, r.subject, r.max_sessions`,
    [rule.subjectType, rule.subject, rule.maxSessions],
  );
  return toRule(row!);
}

/** Removes the rule for one subject; `false` if there was none. */
export async function removeLimitRule(sql: Sql, subjectType: LimitSubjectType, subject: string): Promise<boolean> {
  const rows = await sql.all<{ subject: string }>(
    'delete from gsc_limit_rule r where r.subject_type = ? and r.subject = ? returning r.subject',
    [subjectType, subject],
  );
  return rows.length > 0;
}
