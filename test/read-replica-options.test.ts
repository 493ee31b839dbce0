import test from 'ava';
import { SessionController } from '../src/controller.js';
import { SessionConfigError } from '../src/errors.js';
import { ownDatabase } from './helpers/core.js';
import { onPostgres } from './helpers/database.js';
import { internalsOf } from './helpers/internals.js';
import { recordingLogger } from './helpers/logger.js';
import { freePort } from './helpers/pg-cluster.js';

// The options `readReplicas` and `maxReplicaLag` (docs/contract.md §13, "Read replicas"): checked
// at create, and a replica that cannot answer listings is no reason to fail. Real replication
// (a listing answered by a hot standby, read-your-writes, lag, a replica going down) is in
// drills/read-replicas.test.ts.

const identify = () => null;

test('readReplicas with the embedded database fails create with a SessionConfigError', async (t) => {
  for (const database of [undefined, { embedded: {} }]) {
    const error = await t.throwsAsync(
      SessionController.create({ database, identify, readReplicas: ['postgres://127.0.0.1:5999/app'] }),
      { instanceOf: SessionConfigError },
    );
    t.regex(error!.message, /Invalid option "readReplicas": the embedded database has no replicas/);
  }
});

test('readReplicas must be an array of postgres:// URLs; maxReplicaLag a positive duration', async (t) => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ readReplicas: 'postgres://127.0.0.1/app' }, /"readReplicas": expected an array of postgres:\/\/ URLs/],
    [
      { readReplicas: ['mysql://u:secret@h/app'] },
      /"readReplicas": expected an array of postgres:\/\/ URLs, got "mysql:\/\/[^"]*\*\*\*@h\/app"/,
    ],
    [{ readReplicas: [42] }, /"readReplicas"/],
    [{ maxReplicaLag: 0 }, /"maxReplicaLag"/],
    [{ maxReplicaLag: 'soon' }, /"maxReplicaLag"/],
    [{ maxReplicaLag: '6s' }, /"maxReplicaLag": expected a duration of at most 5s/],
  ];
  for (const [options, message] of cases) {
    const error = await t.throwsAsync(
      SessionController.create({ database: 'postgres://127.0.0.1:5999/app', identify, ...options }),
      { instanceOf: SessionConfigError },
    );
    t.regex(error!.message, message);
    t.notRegex(error!.message, /secret/);
  }
});

if (onPostgres) {
  test('a replica that does not answer, or is no standby, is a warning at create; listings then come from the primary', async (t) => {
    const db = await ownDatabase(t);
    const url = db.url!;
    const down = `postgres://postgres@127.0.0.1:${await freePort()}/nowhere`;
    const { logger, lines } = recordingLogger();
    // The primary itself as a "replica": it answers, but is not in recovery.
    const controller = await SessionController.create({ database: url, identify, logger, readReplicas: [down, url] });
    t.teardown(() => controller.close());
    t.true(
      lines.some((l) => /read replica 127\.0\.0\.1:\d+\/nowhere does not answer/.test(l)),
      lines.join('\n'),
    );
    t.true(
      lines.some((l) => /is not a hot standby/.test(l)),
      lines.join('\n'),
    );
    await controller.openSession({ userId: 'u1', sessionKey: 'k-1' });
    const page = await controller.operations().directory.listActive({ userId: 'u1', first: 10, after: null });
    t.is(page.totalCount, 1);
    t.deepEqual(internalsOf(controller).store.replicas.answered, { replica: 0, primary: 1 });
  });
}
