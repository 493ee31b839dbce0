import { Migration } from '@mikro-orm/migrations';

/**
 * Second round of scale (docs/design.md, "Atomic admission" and "The app count"):
 *
 * - `gsc_admit(...)`: admission in one round trip. Takes the locks, reads the facts, decides
 *   (the same rules as src/policy/admission.ts, which stays the reference: test/admission-sql.test.ts
 *   checks that both agree) and inserts, or answers why not. Eviction is left to the
 *   multi-statement path in src/store/session-table.ts (`FALLBACK`).
 * - `gsc_app_counter`: the app-wide count of counted sessions (not revoked, not exempt, not found
 *   expired by the sweep), in shards, kept by statement triggers on every write to gsc_session
 *   whoever makes it (a bulk import, a restore, an operator's UPDATE), corrected by the periodic
 *   reconciliation for writes that bypass triggers.
 * - `gsc_session.swept_at`: when the sweep found the session expired and stopped counting it.
 * - `gsc_session.key_expires_at` and `gsc_tombstone`: a revoked key stays refused after its row is
 *   pruned, until the key can no longer be valid.
 *
 * The advisory-lock keys are those of src/store/locks.ts (app 0x67530002, user 0x67530003).
 * A migration is a fixed text: later changes to these functions go in a new migration.
 */
export class Migration20261128110000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `alter table "gsc_session" add column "key_expires_at" timestamptz null, add column "swept_at" timestamptz null;`,
    );
    // The app count's exact path reads only counted rows, newest (most likely alive) first.
    this.addSql(`drop index if exists "gsc_session_app_active_idx";`);
    this.addSql(
      `create index "gsc_session_app_counted_idx" on "gsc_session" ("created_at" desc) where "revoked_at" is null and "exempt" = false and "swept_at" is null;`,
    );

    // Sessions the sweep stopped counting, by when: a lengthened timeout can bring recent ones back to life.
    this.addSql(
      `create index "gsc_session_swept_idx" on "gsc_session" ("swept_at") where "swept_at" is not null and "revoked_at" is null;`,
    );

    this.addSql(
      `create table "gsc_tombstone" ("key_hash" varchar(64) not null, "reason" varchar(32) not null, "expires_at" timestamptz not null, constraint "gsc_tombstone_pkey" primary key ("key_hash"));`,
    );
    this.addSql(`create index "gsc_tombstone_expires_idx" on "gsc_tombstone" ("expires_at");`);

    this.addSql(
      `create table "gsc_app_counter" ("shard" smallint not null, "n" bigint not null default 0, constraint "gsc_app_counter_pkey" primary key ("shard")) with (fillfactor = 10);`,
    );
    // Every admission updates one of these rows: a low fillfactor makes PostgreSQL prune the
    // dead versions of a page on almost every visit (HOT pruning), so neither the update nor the
    // sum walks a long chain of them, with or without autovacuum.
    // Rows written before this migration (by a previous version) are counted once, here; the
    // ALTER TABLE above holds an exclusive lock, so no write slips between the count and the triggers.
    this.addSql(
      `insert into "gsc_app_counter" ("shard", "n") select g, case when g = 0 then (select count(*) from "gsc_session" where "revoked_at" is null and "exempt" = false) else 0 end from generate_series(0, 31) g;`,
    );

    // ---- the counter's triggers: one UPDATE of one shard per statement, whatever its size ----
    // (plpgsql keeps the plan of each statement; the shard is the backend's, so concurrent
    // writers rarely wait on one another's shard.)
    // gsc_admit counts the row it inserts itself (a statement trigger with a transition table
    // costs a plan per call: as much as the rest of the admission), and says so for its one statement.
    this.addSql(`create function "gsc_app_count_insert"() returns trigger language plpgsql as $$
declare
  v_delta bigint;
begin
  if current_setting('gsc.admitting', true) = 'on' then return null; end if;
  select count(*) into v_delta from gsc_new_rows r where r.revoked_at is null and r.exempt = false and r.swept_at is null;
  if v_delta <> 0 then
    update gsc_app_counter set n = n + v_delta where shard = pg_backend_pid() % 32;
  end if;
  return null;
end $$;`);
    this.addSql(`create function "gsc_app_count_delete"() returns trigger language plpgsql as $$
declare
  v_delta bigint;
begin
  select count(*) into v_delta from gsc_old_rows r where r.revoked_at is null and r.exempt = false and r.swept_at is null;
  if v_delta <> 0 then
    update gsc_app_counter set n = n - v_delta where shard = pg_backend_pid() % 32;
  end if;
  return null;
end $$;`);
    this.addSql(`create function "gsc_app_count_update"() returns trigger language plpgsql as $$
declare
  v_delta bigint;
begin
  select (select count(*) from gsc_new_rows r where r.revoked_at is null and r.exempt = false and r.swept_at is null)
       - (select count(*) from gsc_old_rows r where r.revoked_at is null and r.exempt = false and r.swept_at is null)
    into v_delta;
  if v_delta <> 0 then
    update gsc_app_counter set n = n + v_delta where shard = pg_backend_pid() % 32;
  end if;
  return null;
end $$;`);
    this.addSql(
      `create trigger "gsc_session_count_insert" after insert on "gsc_session" referencing new table as gsc_new_rows for each statement execute function gsc_app_count_insert();`,
    );
    this.addSql(
      `create trigger "gsc_session_count_delete" after delete on "gsc_session" referencing old table as gsc_old_rows for each statement execute function gsc_app_count_delete();`,
    );
    this.addSql(
      `create trigger "gsc_session_count_update" after update on "gsc_session" referencing old table as gsc_old_rows new table as gsc_new_rows for each statement execute function gsc_app_count_update();`,
    );
    // TRUNCATE fires no row trigger: the counter follows it.
    this.addSql(`create function "gsc_app_count_truncate"() returns trigger language plpgsql as $$
begin
  update gsc_app_counter set n = 0;
  return null;
end $$;`);
    this.addSql(
      `create trigger "gsc_session_count_truncate" after truncate on "gsc_session" for each statement execute function gsc_app_count_truncate();`,
    );

    // ---- the pure rules, mirrored from src/policy/admission.ts (the reference) ----
    this.addSql(`create function "gsc_resolve_user_limit"(p_limit_given boolean, p_limit int, p_user text, p_groups jsonb, p_default int)
returns int language plpgsql stable as $$
declare
  v_max int;
  v_rules int;
  v_unlimited boolean;
begin
  -- docs/contract.md rule 2: the option, else the user's rule, else the most permissive group rule, else the default.
  if p_limit_given then return p_limit; end if;
  select r.max_sessions into v_max from gsc_limit_rule r where r.subject_type = 'USER' and r.subject = p_user;
  if found then return v_max; end if;
  if p_groups is null or jsonb_array_length(p_groups) = 0 then return p_default; end if;
  select count(*), bool_or(r.max_sessions is null), max(r.max_sessions) into v_rules, v_unlimited, v_max
    from gsc_limit_rule r
   where r.subject_type = 'GROUP' and r.subject in (select jsonb_array_elements_text(p_groups));
  if v_rules > 0 then return case when v_unlimited then null else greatest(v_max, 0) end; end if;
  return p_default;
end $$;`);
    this.addSql(`create function "gsc_decide_admission"(p_policy text, p_exempt boolean, p_user_limit int, p_user_active int,
  p_app_limit int, p_app_active bigint,
  out o_outcome text, out o_evict int, out o_level text, out o_limit int, out o_over_level text, out o_over_limit int)
language plpgsql immutable as $$
begin
  -- docs/contract.md rules 3 and 4. The app cap only ever rejects; eviction frees app seats too.
  o_evict := 0;
  if p_exempt then o_outcome := 'ADMIT'; return; end if;
  if p_user_limit is not null and p_user_active >= p_user_limit then
    if p_policy = 'REJECT_NEW' then
      o_outcome := 'REJECT'; o_level := 'USER'; o_limit := p_user_limit; return;
    elsif p_policy = 'EVICT_OLDEST' then
      if p_user_limit = 0 then o_outcome := 'REJECT'; o_level := 'USER'; o_limit := 0; return; end if;
      o_evict := p_user_active - p_user_limit + 1;
    else
      o_over_level := 'USER'; o_over_limit := p_user_limit;
    end if;
  end if;
  if p_app_limit is not null and p_app_active - o_evict >= p_app_limit then
    o_outcome := 'REJECT'; o_level := 'APP'; o_limit := p_app_limit;
    o_evict := 0; o_over_level := null; o_over_limit := null;
    return;
  end if;
  o_outcome := 'ADMIT';
end $$;`);

    // ---- admission in one round trip ----
    this.addSql(`create function "gsc_admit"(
  p_mode text, p_id uuid, p_user text, p_key text, p_groups jsonb, p_ip text, p_ua text, p_exempt boolean,
  p_key_expires_at timestamptz, p_limit_given boolean, p_limit int, p_default_limit int, p_app_limit int,
  p_policy text, p_idle_ms double precision, p_absolute_ms double precision)
returns table (o_kind text, o_level text, o_limit int, o_over_level text, o_over_limit int, o_session jsonb)
language plpgsql volatile as $$
declare
  v_capped boolean := p_app_limit is not null and not p_exempt;
  v_margin bigint := current_setting('max_connections')::bigint;
  v_counted bigint := 0;
  v_reason text;
  v_user_limit int;
  v_user_active int := 0;
  v_app_active bigint := 0;
  v_decision record;
begin
  -- Every statement below takes a new snapshot (READ COMMITTED, volatile function): what it
  -- reads after a lock includes everything the lock's previous holders committed.
  if v_capped then
    if p_mode = 'auto' then
      -- Far from the cap, app-capped admissions share the app lock: even if every other backend
      -- (at most max_connections) is admitting at this moment, the cap holds.
      select coalesce(sum(c.n), 0) into v_counted from gsc_app_counter c;
      if v_counted + v_margin >= p_app_limit then
        o_kind := 'NEAR_CAP';
        return next;
        return;
      end if;
      perform pg_advisory_xact_lock_shared(1733492738, 0);
      select coalesce(sum(c.n), 0) into v_counted from gsc_app_counter c;
      if v_counted + v_margin >= p_app_limit then
        o_kind := 'NEAR_CAP';
        return next;
        return;
      end if;
    else
      -- Near the cap: one admission at a time, app-wide, and an exact count if the counter cannot decide.
      perform pg_advisory_xact_lock(1733492738, 0);
      select coalesce(sum(c.n), 0) into v_counted from gsc_app_counter c;
    end if;
  end if;
  -- App lock before user lock, always.
  perform pg_advisory_xact_lock(1733492739, hashtext(p_user));

  -- (Results are returned by assigning the OUT columns and RETURN NEXT: no query for them.)
  select (select to_jsonb(s) from gsc_session s where s.key_hash = p_key),
         (select t.reason from gsc_tombstone t where t.key_hash = p_key and t.expires_at > now())
    into o_session, v_reason;
  if o_session is not null then
    o_kind := 'EXISTING';
    return next;
    return;
  end if;
  if v_reason is not null then
    o_kind := 'TOMBSTONED';
    o_level := v_reason;
    return next;
    return;
  end if;

  if not p_exempt then
    v_user_limit := gsc_resolve_user_limit(p_limit_given, p_limit, p_user, p_groups, p_default_limit);
    if v_user_limit is not null then
      select count(*) into v_user_active from (
        select 1 from gsc_session s
         where s.user_id = p_user and s.revoked_at is null and s.exempt = false
           and (p_idle_ms is null or s.last_seen_at > now() - p_idle_ms * interval '1 millisecond')
           and (p_absolute_ms is null or s.created_at > now() - p_absolute_ms * interval '1 millisecond')
         limit v_user_limit + 1) u;
    end if;
    if v_capped then
      -- The counter is an upper bound of the live count (it still counts sessions expired since
      -- the last sweep): below the cap it decides; at or over it, count exactly.
      v_app_active := v_counted;
      if v_counted >= p_app_limit then
        select count(*) into v_app_active from (
          select 1 from gsc_session s
           where s.revoked_at is null and s.exempt = false and s.swept_at is null
             and (p_idle_ms is null or s.last_seen_at > now() - p_idle_ms * interval '1 millisecond')
             and (p_absolute_ms is null or s.created_at > now() - p_absolute_ms * interval '1 millisecond')
           limit p_app_limit::bigint + v_user_active) a;
      end if;
    end if;
  end if;

  v_decision := gsc_decide_admission(
    p_policy, p_exempt, v_user_limit, v_user_active, case when v_capped then p_app_limit end, v_app_active);
  if v_decision.o_outcome = 'REJECT' then
    o_kind := 'REJECTED';
    o_level := v_decision.o_level;
    o_limit := v_decision.o_limit;
    return next;
    return;
  end if;
  if v_decision.o_evict > 0 then
    -- Eviction: the multi-statement path decides again, under the exclusive app lock.
    o_kind := 'FALLBACK';
    return next;
    return;
  end if;
  -- The insert counts itself (one shard update, below), not through the statement trigger.
  perform set_config('gsc.admitting', 'on', true);
  insert into gsc_session as s (id, user_id, key_hash, ip_address, user_agent, exempt, key_expires_at)
  values (p_id, p_user, p_key, p_ip, p_ua, p_exempt, p_key_expires_at)
  returning to_jsonb(s) into o_session;
  perform set_config('gsc.admitting', 'off', true);
  if not p_exempt then
    update gsc_app_counter set n = n + 1 where shard = pg_backend_pid() % 32;
  end if;
  o_kind := 'ADMITTED';
  o_over_level := v_decision.o_over_level;
  o_over_limit := v_decision.o_over_limit;
  return next;
end $$;`);
  }

  override async down(): Promise<void> {
    this.addSql(
      `drop function if exists "gsc_admit"(text, uuid, text, text, jsonb, text, text, boolean, timestamptz, boolean, int, int, int, text, double precision, double precision);`,
    );
    this.addSql(`drop function if exists "gsc_decide_admission"(text, boolean, int, int, int, bigint);`);
    this.addSql(`drop function if exists "gsc_resolve_user_limit"(boolean, int, text, jsonb, int);`);
    this.addSql(`drop trigger if exists "gsc_session_count_insert" on "gsc_session";`);
    this.addSql(`drop trigger if exists "gsc_session_count_delete" on "gsc_session";`);
    this.addSql(`drop trigger if exists "gsc_session_count_update" on "gsc_session";`);
    this.addSql(`drop trigger if exists "gsc_session_count_truncate" on "gsc_session";`);
    this.addSql(`drop function if exists "gsc_app_count_insert"();`);
    this.addSql(`drop function if exists "gsc_app_count_delete"();`);
    this.addSql(`drop function if exists "gsc_app_count_update"();`);
    this.addSql(`drop function if exists "gsc_app_count_truncate"();`);
    this.addSql(`drop table if exists "gsc_app_counter" cascade;`);
    this.addSql(`drop table if exists "gsc_tombstone" cascade;`);
    this.addSql(`drop index if exists "gsc_session_app_counted_idx";`);
    this.addSql(`drop index if exists "gsc_session_swept_idx";`);
    this.addSql(
      `create index "gsc_session_app_active_idx" on "gsc_session" ("created_at" desc) where "revoked_at" is null and "exempt" = false;`,
    );
    this.addSql(`alter table "gsc_session" drop column "swept_at", drop column "key_expires_at";`);
  }
}
