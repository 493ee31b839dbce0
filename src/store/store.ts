/** The store's parts together, on one runner: the runtimes and adapters reach SQL only through them. */

import { SessionConfigError } from '../errors.js';
import type { LimitRules, SessionDirectory } from '../runtime/contracts.js';
import type { Timeouts } from '../vocabulary.js';
import { AppCountTable } from './app-count-table.js';
import { ChangeLog } from './change-log.js';
import type { SslOption } from './connection-config.js';
import { type Database, migrateDatabase } from './database.js';
import { LeaseTable } from './lease-table.js';
import { LimitRuleTable } from './limit-rule-table.js';
import { PruneBatches } from './prune-batches.js';
import { type ReadReplicaSettings, ReadReplicas, replicaTargetsFromUrl, replicaTargetsOfOrm } from './read-replicas.js';
import { SessionReads } from './session-reads.js';
import { SessionTable } from './session-table.js';
import type { Sql, SqlRunner } from './sql.js';

export interface StoreSettings {
  timeouts: Timeouts;
  retentionMs: number;
  leaseTtlMs: number;
  tombstoneTtlMs: number | null;
  feedDatabase?: string | false;
  /** Option `readReplicas` (undefined: a host MikroORM's `replicas`, if any). */
  readReplicas?: readonly string[];
  maxReplicaLagMs?: number;
  /** Option `ssl`: replicas are connected to as the primary is. */
  ssl?: SslOption;
  onReplicaState?: ReadReplicaSettings['onReplicaState'];
}

/** The read-only parts a replica can serve. */
interface ListingReaders {
  reads: SessionReads;
  rules: LimitRuleTable;
}

/**
 * Everything the library keeps in the database, one part per table or job, all on the one
 * runner the database gives (docs/design.md, "The store"). The runtimes and the adapters reach
 * SQL only through these parts.
 */
export class Store {
  /** Admission, look-up, revocation and touches of sessions. */
  readonly sessions: SessionTable;
  /** The session API's reads: pages, counts, one session. */
  readonly reads: SessionReads;
  /** `@uniqueSession` leases. */
  readonly leases: LeaseTable;
  /** Stored per-user and per-group limits. */
  readonly rules: LimitRuleTable;
  /** What the change feed polls, notifies and listens to. */
  readonly changes: ChangeLog;
  /** The pruning job's batches. */
  readonly pruning: PruneBatches;
  /** The app count: its sweep and its reconciliation. */
  readonly appCount: AppCountTable;
  /** The runner every part uses; outside `store/`, only the library's own tests read rows with it. */
  readonly sql: SqlRunner;
  /** Where listings run: a read replica that has caught up, else the primary (read-replicas.ts). */
  readonly replicas: ReadReplicas<ListingReaders>;
  /** `queries` with the listings routed through `replicas`; look-ups of one session stay on the primary. */
  readonly listings: SessionDirectory;
  /** `rules` with `list` routed through `replicas`; changes go to the primary. */
  readonly listedRules: LimitRules;

  constructor(
    private readonly db: Database,
    settings: StoreSettings,
  ) {
    this.sql = db.sql;
    this.sessions = new SessionTable(db.sql, settings.timeouts);
    this.reads = new SessionReads(db.sql, settings.timeouts, settings.retentionMs);
    this.leases = new LeaseTable(db.sql, settings.timeouts, settings.leaseTtlMs);
    this.rules = new LimitRuleTable(db.sql);
    this.changes = new ChangeLog(db, settings.feedDatabase);
    this.pruning = new PruneBatches(
      db.sql,
      settings.timeouts,
      settings.retentionMs,
      settings.leaseTtlMs,
      settings.tombstoneTtlMs,
    );
    this.appCount = new AppCountTable(db.sql, settings.timeouts);
    const targets =
      settings.readReplicas?.flatMap((url) => replicaTargetsFromUrl(url, settings.ssl)) ??
      (db.kind === 'postgresql' ? replicaTargetsOfOrm(db.orm.config as never) : []);
    if (db.kind === 'embedded' && targets.length) {
      throw new SessionConfigError('Invalid option "readReplicas": the embedded database has no replicas.');
    }
    const readers = (sql: Sql): ListingReaders => ({
      reads: new SessionReads(sql, settings.timeouts, settings.retentionMs),
      rules: new LimitRuleTable(sql),
    });
    this.replicas = new ReadReplicas(db.sql, { reads: this.reads, rules: this.rules }, targets, readers, {
      maxLagMs: settings.maxReplicaLagMs ?? 250,
      onReplicaState: settings.onReplicaState,
    });
    const reads = this.reads;
    const read = this.replicas;
    this.listings = {
      // Every argument passed on as given (a bound such as `count`'s maximum included).
      listActive: (...args) => read.read((r) => r.reads.listActive(...args)),
      list: (...args) => read.read((r) => r.reads.list(...args)),
      count: (...args) => read.read((r) => r.reads.count(...args)),
      countActive: (...args) => read.read((r) => r.reads.countActive(...args)),
      statusCounts: (...args) => read.read((r) => r.reads.statusCounts(...args)),
      // One session, to act on it or to know who calls: the primary's word.
      find: (id) => reads.find(id),
      ownerOfKey: (keyHash) => reads.ownerOfKey(keyHash),
      hasUser: (userId) => reads.hasUser(userId),
    };
    const rules = this.rules;
    this.listedRules = {
      list: () => read.read((r) => r.rules.list()),
      set: (rule) => rules.set(rule),
      remove: (subjectType, subject) => rules.remove(subjectType, subject),
    };
  }

  /** Applies pending migrations; returns their names. */
  migrate(): Promise<string[]> {
    return migrateDatabase(this.db);
  }

  /** Closes the database if the library opened it (a host-owned ORM stays open). */
  async close(): Promise<void> {
    await this.replicas.close();
    return this.db.close();
  }
}
