/**
 * Stored limit rules (the seed's per-group session settings). Admission reads this table inside
 * its own transaction, so a change here takes effect at the next admission on every instance
 * without any notification.
 */
import type { LimitSubjectValue } from '../vocabulary.js';
import type { Sql } from './sql.js';

export interface LimitRule {
  subjectType: LimitSubjectValue;
  subject: string;
  /** `null` = unlimited. */
  maxSessions: number | null;
}

interface RuleRow {
  subject_type: LimitSubjectValue;
  subject: string;
  max_sessions: number | null;
}

const toRule = (row: RuleRow): LimitRule => ({
  subjectType: row.subject_type,
  subject: row.subject,
  maxSessions: row.max_sessions === null ? null : Number(row.max_sessions),
});

export class LimitRuleTable {
  constructor(private readonly sql: Sql) {}

  /** Every rule: users first, then groups, each by subject. */
  async list(): Promise<LimitRule[]> {
    const rows = await this.sql.all<RuleRow>(
      `select r.subject_type, r.subject, r.max_sessions from gsc_limit_rule r
        order by case r.subject_type when 'USER' then 0 else 1 end, r.subject`,
    );
    return rows.map(toRule);
  }

  /** Creates or replaces the rule for one subject. */
  async set(rule: LimitRule): Promise<LimitRule> {
    const row = await this.sql.one<RuleRow>(
      `insert into gsc_limit_rule as r (subject_type, subject, max_sessions, updated_at)
       values (?, ?, ?, now())
       on conflict (subject_type, subject) do update set max_sessions = excluded.max_sessions, updated_at = now()
       returning r.subject_type, r.subject, r.max_sessions`,
      [rule.subjectType, rule.subject, rule.maxSessions],
    );
    return toRule(row!);
  }

  /** Removes the rule for one subject; `false` if there was none. */
  async remove(subjectType: LimitSubjectValue, subject: string): Promise<boolean> {
    const rows = await this.sql.all<{ subject: string }>(
      'delete from gsc_limit_rule r where r.subject_type = ? and r.subject = ? returning r.subject',
      [subjectType, subject],
    );
    return rows.length > 0;
  }
}
