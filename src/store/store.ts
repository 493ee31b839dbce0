import type { Timeouts } from '../vocabulary.js';
import { AppCountStore } from './app-count-store.js';
import { ChangeLog } from './change-log.js';
import { type Database, migrateDatabase } from './database.js';
import { LeaseStore } from './lease-store.js';
import { LimitRuleStore } from './limit-rule-store.js';
import { PruneStore } from './prune-store.js';
import type { SqlRunner } from './sql.js';
import { SessionQueries } from './session-queries.js';
import { SessionStore } from './session-store.js';

export interface StoreSettings {
  timeouts: Timeouts;
  retentionMs: number;
  leaseTtlMs: number;
  tombstoneTtlMs: number | null;
  feedDatabase?: string | false;
}

/**
 * Everything the library keeps in the database, one part per table or job, all on the one
 * runner the database gives (docs/design.md, "The store"). The runtimes and the adapters reach
 * SQL only through these parts.
 */
export class Store {
  /** Admission, look-up, revocation and touches of sessions. */
  readonly sessions: SessionStore;
  /** The session API's reads: pages, counts, one session. */
  readonly queries: SessionQueries;
  /** `@uniqueSession` leases. */
  readonly leases: LeaseStore;
  /** Stored per-user and per-group limits. */
  readonly rules: LimitRuleStore;
  /** What the change feed polls, notifies and listens to. */
  readonly changes: ChangeLog;
  /** The pruning job's batches. */
  readonly pruning: PruneStore;
  /** The app count: its sweep and its reconciliation. */
  readonly appCount: AppCountStore;
  /** The runner every part uses; outside `store/`, only the library's own tests read rows with it. */
  readonly sql: SqlRunner;

  constructor(
    private readonly db: Database,
    settings: StoreSettings,
  ) {
    this.sql = db.sql;
    this.sessions = new SessionStore(db.sql, settings.timeouts);
    this.queries = new SessionQueries(db.sql, settings.timeouts, settings.retentionMs);
    this.leases = new LeaseStore(db.sql, settings.timeouts, settings.leaseTtlMs);
    this.rules = new LimitRuleStore(db.sql);
    this.changes = new ChangeLog(db, settings.feedDatabase);
    this.pruning = new PruneStore(
      db.sql,
      settings.timeouts,
      settings.retentionMs,
      settings.leaseTtlMs,
      settings.tombstoneTtlMs,
    );
    this.appCount = new AppCountStore(db.sql, settings.timeouts);
  }

  /** Applies pending migrations; returns their names. */
  migrate(): Promise<string[]> {
    return migrateDatabase(this.db);
  }

  /** Closes the database if the library opened it (a host-owned ORM stays open). */
  close(): Promise<void> {
    return this.db.close();
  }
}
