/**
 * The SQL of `@uniqueSession` seats: taking one inside a transaction that applies
 * `policy/lease.ts`, renewing, ending and listing them.
 */
import { decideLease, type LeaseHolder } from '../policy/lease.js';
import type { LimitPolicy, SessionInfo, Timeouts } from '../vocabulary.js';
import { aliveCondition, MILLISECONDS as MS } from './conditions.js';
import { ADVISORY_NAMESPACE } from './locks.js';
import { PUBLIC_SESSION_COLUMNS, type PublicSessionRow, toPublicSession } from './rows.js';
import type { Sql, SqlRunner } from './sql.js';

export interface LeaseRequest {
  /** The governed field, `Type.field`. */
  field: string;
  /** `leaseScopeKey(scope, userId)`: the user id, or `*` for the whole app. */
  scopeKey: string;
  sessionId: string;
  max: number;
  policy: LimitPolicy;
}

export type LeaseResult =
  /** The caller already held a live lease; it is refreshed. */
  | { kind: 'HELD' }
  /** The caller took a lease; `evicted` lost theirs (`EVICT_OLDEST`); `overLimit`: `LOG_ONLY` let it through. */
  | { kind: 'GRANTED'; evicted: string[]; overLimit: boolean }
  /** At the limit with `REJECT_NEW`. */
  | { kind: 'REJECTED' };

/** One session's seat on a field, in one scope. */
export interface LeaseKey {
  field: string;
  scopeKey: string;
  sessionId: string;
}

/** A live lease as listed by `holders()`. */
export interface LeaseInfo {
  sessionId: string;
  acquiredAt: Date;
  lastUsedAt: Date;
}

/** A live lease on a field, with its holder, as operators see it (`sessionLeases`). */
export interface LeaseHolding {
  field: string;
  /** `*` for `scope: APP`, else the user id (`scope: USER`). */
  scopeKey: string;
  session: SessionInfo;
  acquiredAt: Date;
  lastUsedAt: Date;
}

/** The most holders `holdings` lists: the most recently used. */
const MAX_LISTED_HOLDINGS = 1_000;

/**
 * Persistence and atomicity of `@uniqueSession` leases (docs/contract.md rule 6). A lease is live while
 * it was used within `leaseTtl` and its session is alive by `aliveCondition`; revoking a session
 * deletes its leases in the revoking transaction (SessionTable), the pruner deletes the rest.
 *
 * Every acquisition is one short transaction serialized per (field, scope key) with an advisory
 * lock, like session admission, so instances sharing a database never hand out more than `max`.
 * The holder's path (the common one) is a lock and one UPDATE; a later in-memory fast path for
 * recently confirmed holders can sit in front of `acquire` without changing it.
 */
export class LeaseTable {
  constructor(
    private readonly sql: SqlRunner,
    private readonly timeouts: Timeouts,
    private readonly leaseTtlMs: number,
  ) {}

  acquire(request: LeaseRequest): Promise<LeaseResult> {
    return this.sql.transaction(async (sql) => {
      // Field names cannot contain '|', so the key is unambiguous; a hash collision only serializes more.
      await sql.all('select pg_advisory_xact_lock(?, hashtext(?))', [
        ADVISORY_NAMESPACE.lease,
        `${request.field}|${request.scopeKey}`,
      ]);
      const refreshed = await sql.all(
        `update gsc_lease l set last_used_at = now()
          where l.field = ? and l.scope_key = ? and l.session_id = ? and l.last_used_at > now() - ${MS}
          returning 1`,
        [request.field, request.scopeKey, request.sessionId, this.leaseTtlMs],
      );
      if (refreshed.length) return { kind: 'HELD' };

      // Read after the lock (a new statement, a new snapshot): every committed acquisition is seen.
      const holders = await this.pruneAndListHolders(sql, request.field, request.scopeKey);
      const decision = decideLease({ max: request.max, policy: request.policy, holders });
      if (decision.outcome === 'REJECT') return { kind: 'REJECTED' };
      await sql.all(
        `with evicted as (
           delete from gsc_lease l
            where l.field = ? and l.scope_key = ?
              and l.session_id in (select jsonb_array_elements_text(?::jsonb)::uuid))
         insert into gsc_lease (field, scope_key, session_id) values (?, ?, ?)
         on conflict (field, scope_key, session_id) do update set acquired_at = now(), last_used_at = now()`,
        [
          request.field,
          request.scopeKey,
          JSON.stringify(decision.evict),
          request.field,
          request.scopeKey,
          request.sessionId,
        ],
      );
      return { kind: 'GRANTED', evicted: decision.evict, overLimit: decision.overLimit };
    });
  }

  /**
   * Deletes the scope's dead leases (unused for `leaseTtl`, or of a session that is no longer
   * alive) and returns the live ones, least recently used first (the order `EVICT_OLDEST` uses).
   */
  private async pruneAndListHolders(sql: Sql, field: string, scopeKey: string): Promise<LeaseHolder[]> {
    const alive = aliveCondition(this.timeouts);
    // The outer select reads the snapshot from before the delete, so it excludes what it deleted.
    const rows = await sql.all<{ session_id: string; last_used_at: Date | string }>(
      `with dead as (
         delete from gsc_lease l
          where l.field = ? and l.scope_key = ?
            and (l.last_used_at <= now() - ${MS}
                 or not exists (select 1 from gsc_session s where s.id = l.session_id and ${alive.sql}))
          returning l.session_id)
       select l.session_id, l.last_used_at from gsc_lease l
        where l.field = ? and l.scope_key = ? and l.session_id not in (select d.session_id from dead d)
        order by l.last_used_at, l.acquired_at, l.session_id`,
      [field, scopeKey, this.leaseTtlMs, ...alive.params, field, scopeKey],
    );
    return rows.map((r) => ({ sessionId: r.session_id, lastUsedAt: new Date(r.last_used_at) }));
  }

  /** Ends one session's lease on a field (its subscription completed, or it gave the seat up). */
  async release(field: string, scopeKey: string, sessionId: string): Promise<boolean> {
    const rows = await this.sql.all(
      'delete from gsc_lease l where l.field = ? and l.scope_key = ? and l.session_id = ? returning 1',
      [field, scopeKey, sessionId],
    );
    return rows.length > 0;
  }

  /**
   * Keeps live leases alive (`last_used_at = now()`), all in one statement: the seats that live
   * subscriptions hold. Returns those still held; a lease revoked, released, taken by an eviction
   * or lapsed is not brought back.
   */
  async renew(leases: readonly LeaseKey[]): Promise<LeaseKey[]> {
    if (!leases.length) return [];
    const rows = await this.sql.all<{ field: string; scope_key: string; session_id: string }>(
      `update gsc_lease l set last_used_at = now()
         from jsonb_to_recordset(?::jsonb) as x(field text, scope_key text, session_id uuid)
        where l.field = x.field and l.scope_key = x.scope_key and l.session_id = x.session_id
          and l.last_used_at > now() - ${MS}
        returning l.field, l.scope_key, l.session_id`,
      [
        JSON.stringify(leases.map((s) => ({ field: s.field, scope_key: s.scopeKey, session_id: s.sessionId }))),
        this.leaseTtlMs,
      ],
    );
    return rows.map((r) => ({ field: r.field, scopeKey: r.scope_key, sessionId: r.session_id }));
  }

  /** The live leases on a field in one scope, most recently used first. Reads only. */
  async holders(field: string, scopeKey: string): Promise<LeaseInfo[]> {
    const alive = aliveCondition(this.timeouts);
    const rows = await this.sql.all<{
      session_id: string;
      acquired_at: Date | string;
      last_used_at: Date | string;
    }>(
      `select l.session_id, l.acquired_at, l.last_used_at from gsc_lease l
        where l.field = ? and l.scope_key = ? and l.last_used_at > now() - ${MS}
          and exists (select 1 from gsc_session s where s.id = l.session_id and ${alive.sql})
        order by l.last_used_at desc, l.acquired_at desc, l.session_id`,
      [field, scopeKey, this.leaseTtlMs, ...alive.params],
    );
    return rows.map((r) => ({
      sessionId: r.session_id,
      acquiredAt: new Date(r.acquired_at),
      lastUsedAt: new Date(r.last_used_at),
    }));
  }

  /**
   * Every live lease on a field, in every scope, with its session: most recently used first, at
   * most `MAX_LISTED_HOLDINGS`. The primary key (field, scope_key, session_id) finds them.
   */
  async holdings(field: string): Promise<LeaseHolding[]> {
    const alive = aliveCondition(this.timeouts);
    const rows = await this.sql.all<
      PublicSessionRow & { scope_key: string; acquired_at_: Date | string; last_used_at_: Date | string }
    >(
      `select l.scope_key, l.acquired_at as acquired_at_, l.last_used_at as last_used_at_, ${PUBLIC_SESSION_COLUMNS}
         from gsc_lease l join gsc_session s on s.id = l.session_id
        where l.field = ? and l.last_used_at > now() - ${MS} and ${alive.sql}
        order by l.last_used_at desc, l.acquired_at desc, l.session_id
        limit ?`,
      [field, this.leaseTtlMs, ...alive.params, MAX_LISTED_HOLDINGS],
    );
    return rows.map((r) => ({
      field,
      scopeKey: r.scope_key,
      session: toPublicSession(r),
      acquiredAt: new Date(r.acquired_at_),
      lastUsedAt: new Date(r.last_used_at_),
    }));
  }

  /**
   * Ends a session's lease on a field (whatever its scope): the seat is free for the next
   * newcomer at once. Returns the scopes in which a live lease ended (empty: it held none).
   */
  async endLeases(field: string, sessionId: string): Promise<string[]> {
    const rows = await this.sql.all<{ scope_key: string; live: boolean }>(
      `delete from gsc_lease l where l.field = ? and l.session_id = ?
        returning l.scope_key, l.last_used_at > now() - ${MS} as live`,
      [field, sessionId, this.leaseTtlMs],
    );
    return rows.filter((r) => r.live).map((r) => r.scope_key);
  }
}
