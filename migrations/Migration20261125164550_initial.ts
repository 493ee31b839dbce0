import { Migration } from '@mikro-orm/migrations';

export class Migration20261125164550 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "gsc_lease" ("field" varchar(255) not null, "scope_key" varchar(255) not null, "session_id" uuid not null, "acquired_at" timestamptz not null default now(), "last_used_at" timestamptz not null default now(), constraint "gsc_lease_pkey" primary key ("field", "scope_key", "session_id"));`,
    );
    this.addSql(`create index "gsc_lease_session_idx" on "gsc_lease" ("session_id");`);

    this.addSql(
      `create table "gsc_limit_rule" ("subject_type" varchar(16) not null, "subject" varchar(255) not null, "max_sessions" int null, "updated_at" timestamptz not null default now(), constraint "gsc_limit_rule_pkey" primary key ("subject_type", "subject"));`,
    );

    this.addSql(
      `create table "gsc_session" ("id" uuid not null, "user_id" varchar(255) not null, "key_hash" varchar(64) not null, "created_at" timestamptz not null default now(), "last_seen_at" timestamptz not null default now(), "revoked_at" timestamptz null, "revoked_reason" varchar(32) null, "revoked_note" varchar(200) null, "ip_address" varchar(64) null, "user_agent" varchar(512) null, "exempt" boolean not null default false, constraint "gsc_session_pkey" primary key ("id"));`,
    );
    this.addSql(`alter table "gsc_session" add constraint "gsc_session_key_hash_unique" unique ("key_hash");`);
    this.addSql(
      `create index "gsc_session_revoked_idx" on "gsc_session" ("revoked_at") where "revoked_at" is not null;`,
    );
    this.addSql(
      `create index "gsc_session_app_active_idx" on "gsc_session" ("created_at" desc) where "revoked_at" is null and "exempt" = false;`,
    );
    this.addSql(
      `create index "gsc_session_user_active_idx" on "gsc_session" ("user_id", "created_at" desc, "id" desc) where "revoked_at" is null;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "gsc_lease" cascade;`);

    this.addSql(`drop table if exists "gsc_limit_rule" cascade;`);

    this.addSql(`drop table if exists "gsc_session" cascade;`);
  }
}
