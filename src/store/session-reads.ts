/**
 * Read queries of the session API. They select the public columns only: `key_hash` never leaves
 * the store through here, so no API response can carry it by mistake.
 */
import type { SessionInfo, SessionStatusValue, Timeouts } from '../vocabulary.js';
import { aliveCondition, type Condition, deadCondition, MILLISECONDS } from './conditions.js';
import { PUBLIC_SESSION_COLUMNS, type PublicSessionRow, toPublicSession } from './rows.js';
import type { Sql } from './sql.js';

/** `created_at` in UTC with all six fractional digits, for keyset positions (a JS Date keeps only three). */
const POSITION = `to_char(s.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

export interface PagePosition {
  /** UTC with microseconds, e.g. `2026-11-25T16:45:50.123456Z`. */
  createdAt: string;
  id: string;
}

export interface ActiveSessionPage {
  sessions: Array<{ session: SessionInfo; position: PagePosition }>;
  hasNextPage: boolean;
  /** Active sessions of the user in all, not just this page. */
  totalCount: number;
}

/** Which sessions a history page lists (docs/contract.md §9); each part `null` = no restriction. */
export interface SessionFilter {
  /** One user's sessions; `null`: every user's. */
  userId: string | null;
  /** Sessions in any of these statuses (by the database clock); `null`: every status. */
  statuses: readonly SessionStatusValue[] | null;
  /** Sessions admitted from this address. */
  ipAddress: string | null;
}

export interface SessionPage {
  /** Each with its status as the database clock decides it, the same clock the filter used. */
  sessions: Array<{ session: SessionInfo; status: SessionStatusValue; position: PagePosition }>;
  hasNextPage: boolean;
}

/** Stored sessions by status, within retention. */
export interface StatusCounts {
  active: number;
  revoked: number;
  expired: number;
  /** Users with at least one active session. */
  activeUsers: number;
}

export interface ActiveCounts {
  /** Active sessions in the whole app, exempt ones included. */
  activeSessions: number;
  /** Users with at least one active session. */
  activeUsers: number;
}

export class SessionReads {
  constructor(
    private readonly sql: Sql,
    private readonly timeouts: Timeouts,
    /** Rows dead longer than this are no longer shown, even before the pruner deletes them. */
    private readonly retentionMs: number = Number.POSITIVE_INFINITY,
  ) {}

  /**
   * One page of the session history, newest first by (created_at, id), after `after` if given.
   * Each kind of filter walks its own index in that order (the fleet, one user, one address:
   * see the session entity), so a page costs about `first` index entries, divided by the share of
   * rows the status filter keeps, whatever the table's size. Counting is `count`, asked apart.
   */
  async list(query: SessionFilter & { first: number; after: PagePosition | null }): Promise<SessionPage> {
    const where = this.historyCondition(query);
    const alive = aliveCondition(this.timeouts);
    const keyset = query.after ? 'and (s.created_at, s.id) < (?::timestamptz, ?::uuid)' : '';
    const rows = await this.sql.all<PublicSessionRow & { position: string; status: SessionStatusValue }>(
      `select ${PUBLIC_SESSION_COLUMNS}, ${POSITION} as position,
              case when s.revoked_at is not null then 'REVOKED' when ${alive.sql} then 'ACTIVE' else 'EXPIRED' end as status
         from gsc_session s
        where ${where.sql} ${keyset}
        order by s.created_at desc, s.id desc
        limit ?`,
      [
        ...alive.params,
        ...where.params,
        ...(query.after ? [query.after.createdAt, query.after.id] : []),
        // One more than asked tells whether another page follows.
        query.first + 1,
      ],
    );
    return {
      sessions: rows.slice(0, query.first).map((r) => ({
        session: toPublicSession(r),
        status: r.status,
        position: { createdAt: r.position, id: r.id },
      })),
      hasNextPage: rows.length > query.first,
    };
  }

  /**
   * How many sessions the history lists for this filter, in all pages, counting at most `max`
   * (the API's `maxTotalCount`): the count stops there, so its cost is bounded whatever the history.
   */
  async count(filter: SessionFilter, max: number | null = null): Promise<number> {
    const where = this.historyCondition(filter);
    const row = await this.sql.one<{ n: number | string }>(
      `select count(*) as n from (select 1 from gsc_session s where ${where.sql} limit ?) counted`,
      [...where.params, max],
    );
    return Number(row!.n);
  }

  /** Every stored session within retention, by status (one pass over the table: for operators, not requests). */
  async statusCounts(): Promise<StatusCounts> {
    const alive = aliveCondition(this.timeouts);
    const shown = this.historyCondition({ userId: null, statuses: null, ipAddress: null });
    const row = await this.sql.one<Record<keyof StatusCounts, number | string>>(
      `select count(*) filter (where ${alive.sql}) as "active",
              count(*) filter (where s.revoked_at is not null) as "revoked",
              count(*) filter (where s.revoked_at is null and not (${alive.sql})) as "expired",
              count(distinct s.user_id) filter (where ${alive.sql}) as "activeUsers"
         from gsc_session s where ${shown.sql}`,
      [...alive.params, ...alive.params, ...alive.params, ...shown.params],
    );
    return {
      active: Number(row!.active),
      revoked: Number(row!.revoked),
      expired: Number(row!.expired),
      activeUsers: Number(row!.activeUsers),
    };
  }

  /** Whether the store holds any session of this user, in any status. */
  async hasUser(userId: string): Promise<boolean> {
    const row = await this.sql.one<{ found: boolean }>(
      'select exists (select 1 from gsc_session s where s.user_id = ?) as found',
      [userId],
    );
    return Boolean(row?.found);
  }

  /** The filter as SQL: fixed fragments, every value bound. Rows past retention are never shown. */
  private historyCondition(filter: SessionFilter): Condition {
    const parts: string[] = [];
    const params: unknown[] = [];
    const add = (condition: Condition) => {
      parts.push(condition.sql);
      params.push(...condition.params);
    };
    if (filter.userId !== null) add({ sql: 's.user_id = ?', params: [filter.userId] });
    if (filter.ipAddress !== null) add({ sql: 's.ip_address = ?', params: [filter.ipAddress] });
    if (filter.statuses !== null) add(statusCondition(filter.statuses, this.timeouts));
    if (Number.isFinite(this.retentionMs)) {
      const dead = deadCondition(this.timeouts, this.retentionMs);
      // `is not true`, not `not`: for a live row the condition is null (`revoked_at < …` with no revoked_at).
      add({ sql: `${dead.sql} is not true`, params: dead.params });
    }
    return { sql: parts.length ? parts.join(' and ') : 'true', params };
  }

  /**
   * One page of a user's active sessions, newest first by (created_at, id), after `after` if given.
   * The row comparison walks the partial index (user_id, created_at desc, id desc) where revoked_at
   * is null, so a page costs `first` index entries whatever page it is. One round trip.
   */
  async listActive(query: {
    userId: string;
    first: number;
    after: PagePosition | null;
    /** `totalCount` counts at most this many (see `count`); `null` or absent: all. */
    maxCount?: number | null;
  }): Promise<ActiveSessionPage> {
    const alive = aliveCondition(this.timeouts);
    const keyset = query.after ? 'and (s.created_at, s.id) < (?::timestamptz, ?::uuid)' : '';
    const row = await this.sql.one<{
      total: number | string;
      page: Array<PublicSessionRow & { position: string }>;
    }>(
      `select
        (select count(*) from (select 1 from gsc_session s where s.user_id = ? and ${alive.sql} limit ?) counted) as total,
        (select coalesce(json_agg(p order by p.created_at desc, p.id desc), '[]'::json) from (
           select ${PUBLIC_SESSION_COLUMNS}, ${POSITION} as position
             from gsc_session s
            where s.user_id = ? and ${alive.sql} ${keyset}
            order by s.created_at desc, s.id desc
            limit ?) p) as page`,
      [
        query.userId,
        ...alive.params,
        query.maxCount ?? null,
        query.userId,
        ...alive.params,
        ...(query.after ? [query.after.createdAt, query.after.id] : []),
        // One more than asked tells whether another page follows.
        query.first + 1,
      ],
    );
    const page = row!.page;
    return {
      sessions: page.slice(0, query.first).map((r) => ({
        session: toPublicSession(r),
        position: { createdAt: r.position, id: r.id },
      })),
      hasNextPage: page.length > query.first,
      totalCount: Number(row!.total),
    };
  }

  /** A session by id, revoked or not; `null` if unknown. */
  async find(id: string): Promise<SessionInfo | null> {
    const row = await this.sql.one<PublicSessionRow>(
      `select ${PUBLIC_SESSION_COLUMNS} from gsc_session s where s.id = ?`,
      [id],
    );
    return row ? toPublicSession(row) : null;
  }

  /**
   * The id and owner of the session with this key digest. Bound, not spliced: a failing query's
   * message then shows `$1`, never the digest, wherever the error is logged.
   */
  /** Sessions by id, revoked or not, in no particular order; unknown ids are left out. */
  async findMany(ids: readonly string[]): Promise<SessionInfo[]> {
    if (!ids.length) return [];
    const rows = await this.sql.all<PublicSessionRow>(
      `select ${PUBLIC_SESSION_COLUMNS} from gsc_session s where s.id in (select jsonb_array_elements_text(?::jsonb)::uuid)`,
      [JSON.stringify(ids)],
    );
    return rows.map(toPublicSession);
  }

  async ownerOfKey(keyHash: string): Promise<{ id: string; userId: string } | null> {
    const row = await this.sql.one<{ id: string; user_id: string }>(
      'select s.id, s.user_id from gsc_session s where s.key_hash = ?',
      [keyHash],
    );
    return row ? { id: row.id, userId: row.user_id } : null;
  }

  /** Active sessions in the whole app (exempt ones included): a count alone, cheaper than `countActive`. */
  async countActiveSessions(): Promise<number> {
    const alive = aliveCondition(this.timeouts);
    const row = await this.sql.one<{ n: number | string }>(
      `select count(*) as n from gsc_session s where ${alive.sql}`,
      alive.params,
    );
    return Number(row!.n);
  }

  async countActive(): Promise<ActiveCounts> {
    const alive = aliveCondition(this.timeouts);
    const row = await this.sql.one<{
      sessions: number | string;
      users: number | string;
    }>(
      `select count(*) as sessions, count(distinct s.user_id) as users from gsc_session s where ${alive.sql}`,
      alive.params,
    );
    return {
      activeSessions: Number(row!.sessions),
      activeUsers: Number(row!.users),
    };
  }
}

/** Sessions in any of `statuses`, by the database clock (docs/contract.md §2). */
function statusCondition(statuses: readonly SessionStatusValue[], timeouts: Timeouts): Condition {
  const wanted = new Set(statuses);
  if (wanted.size === 3) return { sql: 'true', params: [] };
  const alive = aliveCondition(timeouts);
  const parts: string[] = [];
  const params: unknown[] = [];
  if (wanted.has('ACTIVE')) {
    parts.push(`(${alive.sql})`);
    params.push(...alive.params);
  }
  if (wanted.has('REVOKED')) parts.push('s.revoked_at is not null');
  if (wanted.has('EXPIRED')) {
    // An expired session was created at least the shortest timeout ago (last_seen_at never precedes
    // created_at): the bound lets a walk newest first skip the sessions younger than that.
    const shortest = Math.min(timeouts.idleTimeoutMs ?? Infinity, timeouts.absoluteTimeoutMs ?? Infinity);
    const young = Number.isFinite(shortest) ? ` and s.created_at <= now() - ${MILLISECONDS}` : '';
    parts.push(`(s.revoked_at is null and not (${alive.sql})${young})`);
    params.push(...alive.params, ...(young ? [shortest] : []));
  }
  return { sql: parts.length ? `(${parts.join(' or ')})` : 'false', params };
}
