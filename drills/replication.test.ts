/**
 * The replication harness itself (test/helpers/replication.ts), so that a replica or failover
 * drill can never pass because its replication was not there: a standby is read-only and
 * receives the primary's rows, a paused replay really hides new rows, synchronous replication
 * really waits for a standby, and a killed primary's standby can be promoted and take writes.
 */
import test from 'ava';
import { eventually } from '../test/helpers/core.js';
import { Replication } from '../test/helpers/replication.js';

test.serial('replication: a hot standby is read-only, receives a row, hides it while replay is paused', async (t) => {
  const set = await Replication.start(t, { standbys: 2 });
  const [standby1, standby2] = set.standbys;
  t.false(await set.primary.inRecovery());
  t.true(await standby1.inRecovery());
  t.true(await standby2.inRecovery());
  t.not(standby1.port, set.primary.port);
  t.not(set.primary.port, 5432, 'never the shared cluster');

  await set.createDatabase('harness');
  await set.primary.query('create table t (v int)', [], 'harness');
  await set.primary.query('insert into t values (1)', [], 'harness');
  const lsn = await set.currentLsn();
  await set.waitReplayed(standby1, lsn);
  t.deepEqual(await standby1.query('select v from t', [], 'harness'), [{ v: 1 }], 'the standby has the row');
  const refused = await t.throwsAsync(standby1.query('insert into t values (2)', [], 'harness'));
  t.regex(refused?.message ?? '', /read-only transaction/);

  await set.pauseReplay(standby2);
  await set.primary.query('insert into t values (3)', [], 'harness');
  await set.waitReplayed(standby1);
  t.deepEqual(await standby1.query('select v from t order by v', [], 'harness'), [{ v: 1 }, { v: 3 }]);
  t.deepEqual(await standby2.query('select v from t order by v', [], 'harness'), [{ v: 1 }], 'a paused standby shows nothing new');
  await set.resumeReplay(standby2);
  await set.waitReplayed(standby2);
  t.deepEqual(await standby2.query('select v from t order by v', [], 'harness'), [{ v: 1 }, { v: 3 }]);
});

test.serial('replication: synchronous commits wait for a standby; a killed primary is replaced by a promoted standby', async (t) => {
  const set = await Replication.start(t, { standbys: 1, synchronous: true });
  const [standby] = set.standbys;
  const [sync] = await set.primary.query<{ sync_state: string }>(
    "select sync_state from pg_stat_replication where application_name = 'standby1'",
  );
  t.is(sync.sync_state, 'quorum', 'the standby is a synchronous one (ANY 1)');

  await set.createDatabase('harness');
  await set.primary.query('create table t (v int)', [], 'harness');
  // With its only synchronous standby stopped, a commit does not return.
  await set.stop(standby);
  let committed = false;
  const pending = set.primary.query('insert into t values (1)', [], 'harness').then(() => (committed = true));
  // The commit is done locally and waits for the standby (wait event SyncRep), not for anything else.
  await eventually(async () => {
    const rows = await set.primary.query("select 1 from pg_stat_activity where wait_event = 'SyncRep'");
    return rows.length ? true : undefined;
  }, 10_000);
  t.false(committed, 'a commit waits for the synchronous standby');
  await set.start(standby);
  await pending;
  t.true(committed, 'and returns once the standby is back');

  const oldPrimary = set.primary;
  await set.kill(oldPrimary);
  t.false(oldPrimary.running, 'the killed primary is down');
  await set.promote(standby);
  t.is(set.primary, standby);
  t.false(await standby.inRecovery(), 'the promoted standby is a primary');
  await standby.query('insert into t values (2)', [], 'harness');
  t.deepEqual(await standby.query('select v from t order by v', [], 'harness'), [{ v: 1 }, { v: 2 }], 'nothing committed was lost');
});
