import { Migration } from '@mikro-orm/migrations';

/**
 * Operators (docs/contract.md §9): who revoked a session, and the indexes of the session history.
 *
 * Building an index blocks writes to the table while it runs (seconds on a million rows). On a
 * large production table, create the four indexes beforehand with `create index concurrently`
 * and the same names: this migration then finds them and only adds the column.
 */
export class Migration20261128100000_operators extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "gsc_session" add column "revoked_by" varchar(255) null;`);
    this.addSql(
      `create index if not exists "gsc_session_ip_created_idx" on "gsc_session" ("ip_address", "created_at" desc, "id" desc) where "ip_address" is not null;`,
    );
    this.addSql(
      `create index if not exists "gsc_session_user_created_idx" on "gsc_session" ("user_id", "created_at" desc, "id" desc);`,
    );
    this.addSql(
      `create index if not exists "gsc_session_created_idx" on "gsc_session" ("created_at" desc, "id" desc);`,
    );
    this.addSql(
      `create index if not exists "gsc_session_revoked_created_idx" on "gsc_session" ("created_at" desc, "id" desc) where "revoked_at" is not null;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "gsc_session_ip_created_idx";`);
    this.addSql(`drop index "gsc_session_user_created_idx";`);
    this.addSql(`drop index "gsc_session_created_idx";`);
    this.addSql(`drop index "gsc_session_revoked_created_idx";`);
    this.addSql(`alter table "gsc_session" drop column "revoked_by";`);
  }
}
