/**
 * Read queries of the session API. They select the public columns only: `key_hash` never leaves
 * the store through here, so no API response can carry it by mistake.
 */
import type { SessionInfo, Timeouts } from '../vocabulary.js';
import { aliveCondition } from './conditions.js';
import { PUBLIC_SESSION_COLUMNS, toPublicSession, type PublicSessionRow } from './rows.js';
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

export interface ActiveCounts {
  /** Active sessions in the whole app, exempt ones included. */
  activeSessions: number;
  /** Users with at least one active session. */
  activeUsers: number;
}

export class SessionQueries {
  constructor(
    private readonly sql: Sql,
    private readonly timeouts: Timeouts,
  ) {}

  /**
   * One page of a user's active sessions, newest first by (created_at, id), after `after` if given.
   * The row comparison walks the partial index (user_id, created_at desc, id desc) where revoked_at
   * is null, so a page costs `first` index entries whatever page it is. One round trip.
   */
  async listActive(query: { userId: string; first: number; after: PagePosition | null }): Promise<ActiveSessionPage> {
    const alive = aliveCondition(this.timeouts);
    const keyset = query.after ? 'and (s.created_at, s.id) < (?::timestamptz, ?::uuid)' : '';
    const row = await this.sql.one<{
      total: number | string;
      page: Array<PublicSessionRow & { position: string }>;
    }>(
      `select
        (select count(*) from gsc_session s where s.user_id = ? and ${alive.sql}) as total,
        (select coalesce(json_agg(p order by p.created_at desc, p.id desc), '[]'::json) from (
           select ${PUBLIC_SESSION_COLUMNS}, ${POSITION} as position
             from gsc_session s
            where s.user_id = ? and ${alive.sql} ${keyset}
            order by s.created_at desc, s.id desc
            limit ?) p) as page`,
      [
        query.userId,
        ...alive.params,
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
