/**
 * The SQL of sessions: admission in one transaction (`gsc_admit`, so concurrent logins on any
 * instances cannot pass a cap together), look-ups, revocation and batched touches.
 */
import { randomUUID } from 'node:crypto';
import pLimit, { type LimitFunction } from 'p-limit';
import { type AdmissionDecision, decideAdmission, resolveUserLimit } from '../policy/admission.js';
import {
  clipped,
  type Limit,
  type LimitPolicy,
  type LimitSubjectValue,
  MAX_NOTE_LENGTH,
  type RevokeReason,
  type SessionLimitLevel,
  type Timeouts,
} from '../vocabulary.js';
import { aliveCondition } from './conditions.js';
import { ADVISORY_NAMESPACE } from './locks.js';
import { SESSION_COLUMNS, type SessionRow, type StoredSession, toStoredSession } from './rows.js';
import type { PreparedSql, Sql, SqlRunner } from './sql.js';

export interface AdmissionRequest {
  keyHash: string;
  userId: string;
  groups: readonly string[];
  ipAddress: string | null;
  userAgent: string | null;
  exempt: boolean;
  /** What `limitFor` said, resolved before the transaction so host code never runs inside it. */
  limitFromOption: Limit | undefined;
  /** `user.maxSessions`: the limit when neither `limitFor` nor a stored rule gives one. */
  defaultUserLimit: Limit;
  appLimit: Limit;
  policy: LimitPolicy;
  /** When the host's key stops being valid (`Identity.expiresAt`), if it said. */
  keyExpiresAt: Date | null;
}

export type AdmissionResult =
  | { kind: 'EXISTING'; session: StoredSession }
  | {
      kind: 'ADMITTED';
      session: StoredSession;
      evicted: StoredSession[];
      overLimit?: { level: SessionLimitLevel; limit: number };
    }
  | { kind: 'REJECTED'; level: SessionLimitLevel; limit: number }
  /** The key was revoked and its row pruned: its tombstone still refuses it (docs/contract.md rule 5). */
  | { kind: 'TOMBSTONED'; reason: RevokeReason };

/** What `gsc_admit` answers (migrations/Migration20261128110000_scale.ts). */
interface AdmitRow {
  o_kind: 'EXISTING' | 'ADMITTED' | 'REJECTED' | 'TOMBSTONED' | 'FALLBACK' | 'NEAR_CAP';
  o_level: string | null;
  o_limit: number | null;
  o_over_level: SessionLimitLevel | null;
  o_over_limit: number | null;
  o_session: SessionRow | null;
}

/**
 * How many app-capped admissions near the cap one instance runs at once. Near the cap they take
 * the app lock exclusively and may count; the others wait here, in memory, instead of holding a
 * pooled connection while they wait for the lock (so no caller times out waiting for a connection).
 */
const NEAR_CAP_CONCURRENCY = 2;
/** Once an instance has seen the app near its cap, it skips the shared-lock attempt this long. */
const NEAR_CAP_MEMORY_MS = 1_000;

interface AdmissionFacts {
  existing: SessionRow | null;
  tombstone: RevokeReason | null;
  rules: Array<{ type: LimitSubjectValue; max: number | null }>;
  user_active: Array<{ id: string }>;
  app_active: number | string;
}

/** Persistence and atomicity of sessions. It decides nothing itself: `policy.ts` does. */
export class SessionTable {
  /** Near-cap admissions of this instance, one queue (see NEAR_CAP_CONCURRENCY). */
  private readonly nearCap: LimitFunction = pLimit(NEAR_CAP_CONCURRENCY);
  /** Local time until which this instance goes straight to the near-cap path. */
  private nearCapUntil = 0;

  /** The two statements a login and a request for an unknown key run: prepared once per connection. */
  private readonly admitStatement: PreparedSql;
  private readonly byKeyHash: PreparedSql;

  constructor(
    private readonly sql: SqlRunner,
    private readonly timeouts: Timeouts,
  ) {
    this.admitStatement = sql.prepare(
      `select o_kind, o_level, o_limit, o_over_level, o_over_limit, o_session
         from gsc_admit(?::text, ?::uuid, ?::text, ?::text, ?::jsonb, ?::text, ?::text, ?::boolean, ?::timestamptz,
                        ?::boolean, ?::int, ?::int, ?::int, ?::text, ?::double precision, ?::double precision)`,
    );
    this.byKeyHash = sql.prepare(`select ${SESSION_COLUMNS} from gsc_session s where s.key_hash = ?`);
  }

  async findByKeyHash(keyHash: string): Promise<StoredSession | null> {
    const row = await this.byKeyHash.one<SessionRow>([keyHash]);
    return row ? toStoredSession(row) : null;
  }

  async findById(id: string): Promise<StoredSession | null> {
    const row = await this.sql.one<SessionRow>(`select ${SESSION_COLUMNS} from gsc_session s where s.id = ?`, [id]);
    return row ? toStoredSession(row) : null;
  }

  /**
   * docs/contract.md rule 1: checking the caps and inserting happen in one short transaction serialized per
   * user (and app-wide when the app cap applies), so no interleaving of instances exceeds a cap,
   * and a second first-request with the same key finds the row the first one inserted.
   *
   * The common case is one round trip: `gsc_admit` takes the locks, reads the facts, decides and
   * inserts in one statement (docs/design.md, "Atomic admission"). Near the app cap it is queued
   * on this instance and takes the app lock exclusively; an eviction runs the multi-statement
   * transaction below, which decides the same way with the policy in TypeScript.
   */
  async admit(request: AdmissionRequest): Promise<AdmissionResult> {
    const appCapped = request.appLimit !== null && !request.exempt;
    let row: AdmitRow;
    if (appCapped && Date.now() < this.nearCapUntil) {
      row = await this.nearCap(() => this.admitCall(request, 'exclusive'));
    } else {
      row = await this.admitCall(request, 'auto');
      if (row.o_kind === 'NEAR_CAP') {
        this.nearCapUntil = Date.now() + NEAR_CAP_MEMORY_MS;
        row = await this.nearCap(() => this.admitCall(request, 'exclusive'));
      }
    }
    switch (row.o_kind) {
      case 'EXISTING':
        return { kind: 'EXISTING', session: toStoredSession(row.o_session!) };
      case 'TOMBSTONED':
        return { kind: 'TOMBSTONED', reason: row.o_level as RevokeReason };
      case 'REJECTED':
        return { kind: 'REJECTED', level: row.o_level as SessionLimitLevel, limit: row.o_limit! };
      case 'ADMITTED':
        return {
          kind: 'ADMITTED',
          session: toStoredSession(row.o_session!),
          evicted: [],
          ...(row.o_over_level ? { overLimit: { level: row.o_over_level, limit: row.o_over_limit! } } : {}),
        };
      default:
        // FALLBACK (an eviction is needed); NEAR_CAP cannot come back from the exclusive mode.
        return appCapped ? this.nearCap(() => this.admitInTransaction(request)) : this.admitInTransaction(request);
    }
  }

  /** One call of `gsc_admit`: one statement, one round trip, its own transaction. */
  private async admitCall(request: AdmissionRequest, mode: 'auto' | 'exclusive'): Promise<AdmitRow> {
    const limitGiven = request.limitFromOption !== undefined;
    const row = await this.admitStatement.one<AdmitRow>([
      mode,
      randomUUID(),
      request.userId,
      request.keyHash,
      JSON.stringify(request.groups),
      request.ipAddress,
      request.userAgent,
      request.exempt,
      request.keyExpiresAt,
      limitGiven,
      // The option's value normalized as the reference policy does (Infinity: unlimited, floored, >= 0).
      limitGiven
        ? resolveUserLimit({
            fromOption: request.limitFromOption,
            userRule: undefined,
            groupRules: [],
            defaultUserLimit: null,
          })
        : null,
      request.defaultUserLimit,
      request.appLimit,
      request.policy,
      this.timeouts.idleTimeoutMs,
      this.timeouts.absoluteTimeoutMs,
    ]);
    return row!;
  }

  /**
   * The multi-statement admission: locks, one facts query, the policy in TypeScript, evictions,
   * the insert. Taken when an eviction is needed; it takes the app lock exclusively.
   */
  private admitInTransaction(request: AdmissionRequest): Promise<AdmissionResult> {
    const appCapped = request.appLimit !== null && !request.exempt;
    return this.sql.transaction(async (sql) => {
      // App lock before user lock, always, so two admissions can never wait on each other in a cycle.
      await sql.all(
        appCapped
          ? 'select pg_advisory_xact_lock(?, 0), pg_advisory_xact_lock(?, hashtext(?))'
          : 'select pg_advisory_xact_lock(?, hashtext(?))',
        appCapped
          ? [ADVISORY_NAMESPACE.app, ADVISORY_NAMESPACE.user, request.userId]
          : [ADVISORY_NAMESPACE.user, request.userId],
      );
      const facts = await this.admissionFacts(sql, request, appCapped);
      if (facts.existing) return { kind: 'EXISTING', session: toStoredSession(facts.existing) };
      if (facts.tombstone) return { kind: 'TOMBSTONED', reason: facts.tombstone };

      const decision: AdmissionDecision = decideAdmission({
        policy: request.policy,
        exempt: request.exempt,
        userLimit: resolveUserLimit({
          fromOption: request.limitFromOption,
          userRule: facts.rules.find((r) => r.type === 'USER') && {
            maxSessions: facts.rules.find((r) => r.type === 'USER')!.max,
          },
          groupRules: facts.rules.filter((r) => r.type === 'GROUP').map((r) => ({ maxSessions: r.max })),
          defaultUserLimit: request.defaultUserLimit,
        }),
        userActive: facts.user_active.length,
        appLimit: appCapped ? request.appLimit : null,
        appActive: Number(facts.app_active),
      });
      if (decision.outcome === 'REJECT')
        return { kind: 'REJECTED', level: decision.level as SessionLimitLevel, limit: decision.limit };

      // user_active is ordered least recently seen first: those are the ones to evict.
      const evictIds = facts.user_active.slice(0, decision.evict).map((s) => s.id);
      const evicted = evictIds.length
        ? await this.revokeWhere(
            sql,
            's.id in (select jsonb_array_elements_text(?::jsonb)::uuid)',
            [JSON.stringify(evictIds)],
            'EVICTED',
            null,
          )
        : [];
      const inserted = await sql.one<SessionRow>(
        `insert into gsc_session as s (id, user_id, key_hash, ip_address, user_agent, exempt, key_expires_at)
         values (?, ?, ?, ?, ?, ?, ?)
         returning ${SESSION_COLUMNS}`,
        [
          randomUUID(),
          request.userId,
          request.keyHash,
          request.ipAddress,
          request.userAgent,
          request.exempt,
          request.keyExpiresAt,
        ],
      );
      return {
        kind: 'ADMITTED',
        session: toStoredSession(inserted!),
        evicted,
        ...(decision.overLimit ? { overLimit: decision.overLimit } : {}),
      };
    });
  }

  /** One round trip for everything the decision needs, read after the locks are held. */
  private async admissionFacts(sql: Sql, request: AdmissionRequest, appCapped: boolean): Promise<AdmissionFacts> {
    const alive = aliveCondition(this.timeouts);
    const needRules = request.limitFromOption === undefined;
    const row = await sql.one<AdmissionFacts>(
      `with ua as (
         select s.id, s.last_seen_at, s.created_at from gsc_session s
          where s.user_id = ? and s.exempt = false and ${alive.sql})
       select
        (select row_to_json(e) from (select ${SESSION_COLUMNS} from gsc_session s where s.key_hash = ?) e) as existing,
        (select t.reason from gsc_tombstone t where t.key_hash = ? and t.expires_at > now()) as tombstone,
        (select coalesce(json_agg(json_build_object('type', r.subject_type, 'max', r.max_sessions)), '[]'::json)
           from gsc_limit_rule r
          where ? and ((r.subject_type = 'USER' and r.subject = ?)
             or (r.subject_type = 'GROUP' and r.subject in (select jsonb_array_elements_text(?::jsonb))))) as rules,
        (select coalesce(json_agg(json_build_object('id', ua.id) order by ua.last_seen_at, ua.created_at, ua.id), '[]'::json)
           from ua) as user_active,
        -- The counter is an upper bound of the live count: below the cap it decides, else count exactly.
        (select case when not ? then 0 when c.n < ?::bigint then c.n else
           (select count(*) from (select 1 from gsc_session s where s.exempt = false and s.swept_at is null and ${alive.sql}
              limit ?::int + (select count(*) from ua)) a) end
           from (select coalesce(sum(n), 0) as n from gsc_app_counter) c) as app_active`,
      [
        request.userId,
        ...alive.params,
        request.keyHash,
        request.keyHash,
        needRules,
        request.userId,
        JSON.stringify(request.groups),
        appCapped,
        appCapped ? request.appLimit : 0,
        ...alive.params,
        // Counting stops once the answer cannot change: the cap plus every seat eviction could free.
        appCapped ? request.appLimit! : 0,
      ],
    );
    const facts = row!;
    if (facts.existing && typeof facts.existing === 'object') {
      const e = facts.existing as SessionRow;
      facts.existing = { ...e, exempt: Boolean(e.exempt) };
    }
    return facts;
  }

  /** Revokes matching live sessions (and ends their leases), returning what changed. */
  private async revokeWhere(
    sql: Sql,
    condition: string,
    params: unknown[],
    reason: RevokeReason,
    note: string | null,
    /** The user id of the caller that revokes; `null` for evictions and code without a caller. */
    by: string | null = null,
  ): Promise<StoredSession[]> {
    // clock_timestamp(), not now(): now() is when the transaction began, and an admission may
    // wait on its lock longer than the sync poll looks back; the statement's own time is moments
    // before commit, so a poll cannot miss the revocation.
    const rows = await sql.all<SessionRow>(
      `update gsc_session s set revoked_at = clock_timestamp(), revoked_reason = ?, revoked_note = ?, revoked_by = ?
        where s.revoked_at is null and ${condition}
        returning ${SESSION_COLUMNS}`,
      [reason, clipped(note, MAX_NOTE_LENGTH), by, ...params],
    );
    if (rows.length) {
      await sql.all('delete from gsc_lease where session_id in (select jsonb_array_elements_text(?::jsonb)::uuid)', [
        JSON.stringify(rows.map((r) => r.id)),
      ]);
    }
    return rows.map(toStoredSession);
  }

  private revokeInTransaction(
    condition: string,
    params: unknown[],
    reason: RevokeReason,
    note: string | null,
    by: string | null,
  ) {
    return this.sql.transaction((sql) => this.revokeWhere(sql, condition, params, reason, note, by));
  }

  revokeById(
    id: string,
    reason: RevokeReason,
    note: string | null = null,
    by: string | null = null,
  ): Promise<StoredSession[]> {
    return this.revokeInTransaction('s.id = ?', [id], reason, note, by);
  }

  revokeByUser(
    userId: string,
    reason: RevokeReason,
    note: string | null = null,
    exceptId?: string,
    by: string | null = null,
  ): Promise<StoredSession[]> {
    return exceptId
      ? this.revokeInTransaction('s.user_id = ? and s.id <> ?', [userId, exceptId], reason, note, by)
      : this.revokeInTransaction('s.user_id = ?', [userId], reason, note, by);
  }

  /**
   * Revokes every live session of many users in one statement and one transaction: revoking
   * users one transaction each is bound by commit latency (1,000 users took 1.2-1.5 s), one
   * statement is not.
   */
  revokeByUsers(
    userIds: readonly string[],
    reason: RevokeReason,
    note: string | null = null,
    by: string | null = null,
  ): Promise<StoredSession[]> {
    if (!userIds.length) return Promise.resolve([]);
    return this.revokeInTransaction(
      's.user_id in (select jsonb_array_elements_text(?::jsonb))',
      [JSON.stringify(userIds)],
      reason,
      note,
      by,
    );
  }

  /**
   * Writes many `lastSeenAt` touches in one statement. `greatest` keeps a late flush from moving
   * a session back in time, and revoked rows are left as they were for audit. A session the
   * sweep has already found expired (`swept_at`, at least `SWEEP_GRACE_MS` after its expiry) stays
   * expired: the app count stopped counting it.
   */
  async touch(entries: ReadonlyArray<{ id: string; at: Date }>): Promise<void> {
    if (!entries.length) return;
    await this.sql.all(
      `update gsc_session s set last_seen_at = greatest(s.last_seen_at, t.at)
         from jsonb_to_recordset(?::jsonb) as t(id uuid, at timestamptz)
        where s.id = t.id and s.revoked_at is null and s.swept_at is null`,
      [JSON.stringify(entries.map((e) => ({ id: e.id, at: e.at.toISOString() })))],
    );
  }
}
