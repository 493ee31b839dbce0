/**
 * The change feed's SQL: the poll of recent revocations (with the database clock), NOTIFY, and the
 * LISTEN connection to the primary.
 */
import pg from 'pg';
import type { RevokeReason, Timeouts } from '../vocabulary.js';
import { MILLISECONDS } from './conditions.js';
import { type Database, readConnectionUrl } from './database.js';
import { PrimaryLocator } from './primary-locator.js';
import type { Sql } from './sql.js';

/**
 * The NOTIFY channel that carries revocations between instances.
 * @internal exported for a test that notifies on it directly (test/fleet-revocation.test.ts).
 */
export const CHANGE_CHANNEL = 'gsc_changes';

/** A revocation as the change feed spreads it: the key's digest (never the key), the session and its user. */
export interface RevokedNotice {
  kind: 'REVOKED';
  keyHash: string;
  /** Absent in notices from instances of an older version. */
  sessionId?: string;
  userId?: string;
  revokedAt: Date;
  reason: RevokeReason;
}

/** A new session, for `sessionEvents` subscribers on other instances. */
export interface AdmittedNotice {
  kind: 'ADMITTED';
  sessionId: string;
  userId: string;
}

/** A session that passed its idle or absolute timeout (no statement writes that: it is found). */
export interface ExpiredNotice {
  kind: 'EXPIRED';
  sessionId: string;
  userId: string;
}

export type ChangeNotice = RevokedNotice | AdmittedNotice | ExpiredNotice;

/** A dedicated LISTEN connection; `close` ends it. */
export interface ChangeListener {
  close(): Promise<void>;
  /** This connection's server is not where the fleet writes: the next one tries another host first. */
  passOver(): void;
}

export interface ListenHandlers {
  onPayload(payload: string): void;
  /** The connection failed or ended: the caller reconnects (this one is already closed). */
  onLost(error: Error): void;
}

/**
 * The store side of the change feed: the poll's query, NOTIFY, and the LISTEN connection. Only
 * PostgreSQL pushes: the embedded database lives in one process, where the poll alone is exact.
 */
export class ChangeLog {
  private readonly sql: Sql;
  /** Where the LISTEN connection goes: the primary among the hosts of `feedDatabase` or of the database URL. */
  private readonly listenTo: PrimaryLocator | undefined;

  /**
   * `feedDatabase` (the `feedDatabase` option): another URL for the LISTEN connection (PostgreSQL
   * itself when `db` goes through a pooler in transaction mode), or `false`: no LISTEN, poll only.
   * It is read like the database URL (several hosts, TLS, the `ssl` option).
   */
  constructor(db: Database, feedDatabase?: string | false) {
    this.sql = db.sql;
    this.listenTo =
      db.kind !== 'postgresql' || feedDatabase === false
        ? undefined
        : feedDatabase
          ? new PrimaryLocator(readConnectionUrl('feedDatabase', feedDatabase, db.ssl))
          : db.primary;
  }

  /** Whether other instances can be told at once (else they find out by polling). */
  get pushes(): boolean {
    return this.listenTo !== undefined;
  }

  /** The database clock now. */
  async clock(): Promise<Date> {
    const row = await this.sql.one<{ db_now: Date | string }>('select clock_timestamp() as db_now', []);
    return new Date(row!.db_now);
  }

  /**
   * Sessions revoked at or after `since` (database clock), with the database clock. Without
   * `since`, only the clock: a new instance has nothing cached to correct.
   */
  async revokedSince(since: Date | undefined): Promise<{ dbNow: Date; revoked: RevokedNotice[] }> {
    const row = await this.sql.one<{
      db_now: Date | string;
      revoked: Array<{ k: string; i: string; u: string; at: string; r: RevokeReason }>;
    }>(
      `select now() as db_now,
        (select coalesce(json_agg(json_build_object('k', s.key_hash, 'i', s.id, 'u', s.user_id, 'at', s.revoked_at,
                                                    'r', s.revoked_reason)), '[]'::json)
           from gsc_session s where ? and s.revoked_at >= ?) as revoked`,
      [since !== undefined, since ?? new Date(0)],
    );
    return {
      dbNow: new Date(row!.db_now),
      revoked: row!.revoked.map((r) => ({
        kind: 'REVOKED',
        keyHash: r.k,
        sessionId: r.i,
        userId: r.u,
        revokedAt: new Date(r.at),
        reason: r.r,
      })),
    };
  }

  /**
   * For `sessionEvents` subscribers of these users: their sessions admitted since `since`, and
   * those that expired between `since` and now (by the database clock, which decides status),
   * with the clock to pass as the next `since`. One statement for every subscribed user, on the
   * user index.
   */
  async userChangesSince(
    userIds: readonly string[],
    since: Date,
    timeouts: Timeouts,
  ): Promise<{ dbNow: Date; admitted: AdmittedNotice[]; expired: ExpiredNotice[] }> {
    const idle = timeouts.idleTimeoutMs;
    const absolute = timeouts.absoluteTimeoutMs;
    const row = await this.sql.one<{
      db_now: Date | string;
      admitted: Array<{ i: string; u: string }>;
      expired: Array<{ i: string; u: string }>;
    }>(
      `with mine as (
         select s.id, s.user_id, s.created_at, s.last_seen_at from gsc_session s
          where s.user_id in (select jsonb_array_elements_text(?::jsonb)) and s.revoked_at is null)
       select now() as db_now,
        (select coalesce(json_agg(json_build_object('i', m.id, 'u', m.user_id)), '[]'::json)
           from mine m where m.created_at >= ?) as admitted,
        (select coalesce(json_agg(json_build_object('i', m.id, 'u', m.user_id)), '[]'::json)
           from mine m
          where (?::double precision is not null
                 and m.last_seen_at + ${MILLISECONDS} > ? and m.last_seen_at + ${MILLISECONDS} <= now())
             or (?::double precision is not null
                 and m.created_at + ${MILLISECONDS} > ? and m.created_at + ${MILLISECONDS} <= now())) as expired`,
      [JSON.stringify(userIds), since, idle, idle, since, idle, absolute, absolute, since, absolute],
    );
    return {
      dbNow: new Date(row!.db_now),
      admitted: row!.admitted.map((r) => ({ kind: 'ADMITTED', sessionId: r.i, userId: r.u })),
      expired: row!.expired.map((r) => ({ kind: 'EXPIRED', sessionId: r.i, userId: r.u })),
    };
  }

  /** Sends each payload on the channel, outside any transaction (a notifying commit takes a global lock). */
  async notify(payloads: readonly string[]): Promise<void> {
    if (!this.pushes) return;
    for (const payload of payloads) await this.sql.all('select pg_notify(?, ?)', [CHANGE_CHANNEL, payload]);
  }

  /**
   * Opens a LISTEN connection of its own (LISTEN needs one session for its whole life, not a
   * pooled one), on the primary: a host in recovery is left for the next, so the feed never
   * listens on a standby, where no revocation is ever notified.
   */
  async listen(handlers: ListenHandlers): Promise<ChangeListener> {
    if (!this.listenTo) throw new Error('this database does not push changes');
    // A connection that dies silently must be noticed, so freshness falls back to the poll.
    const client = await this.listenTo.connect(
      (settings) => new pg.Client({ keepAliveInitialDelayMillis: 5_000, ...settings, keepAlive: true }),
    );
    let lost = false;
    const close = async () => {
      client.removeAllListeners();
      client.on('error', () => {});
      await client.end().catch(() => {});
    };
    const lose = (error: Error) => {
      if (lost) return;
      lost = true;
      void close();
      handlers.onLost(error);
    };
    // Without a listener, an 'error' on this client would crash the host process.
    client.on('error', lose);
    client.on('end', () => lose(new Error('listener connection ended')));
    client.on('notification', (message) => {
      if (message.channel === CHANGE_CHANNEL && message.payload) handlers.onPayload(message.payload);
    });
    try {
      await client.query(`listen ${CHANGE_CHANNEL}`);
    } catch (error) {
      lost = true;
      await close();
      throw error;
    }
    const locator = this.listenTo;
    return { close, passOver: () => locator.passOver({ host: client.host, port: client.port }) };
  }
}
