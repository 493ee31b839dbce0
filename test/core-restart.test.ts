import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import type { DatabaseOption } from '../src/options.js';
import { ownDatabase, query, sleep } from './helpers/core.js';
import { onPostgres } from './helpers/database.js';
import { failure, type RunningServer, startTestServer } from './helpers/server.js';

interface Whoami {
  whoami: string | null;
}

const options = { user: { maxSessions: 2 }, touchInterval: 50 };

/** Starts a server whose teardown stops it unless the test already did. */
async function start(t: ExecutionContext, database: DatabaseOption): Promise<RunningServer> {
  const server = await startTestServer({ ...options, database });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await server.stop();
  };
  t.teardown(stop);
  return { ...server, stop };
}

async function survivesRestart(t: ExecutionContext, database: DatabaseOption) {
  const before = await start(t, database);
  const who = async (s: RunningServer, user: string, key: string) =>
    (await s.client(user, key).request<Whoami>('{ whoami }')).whoami;
  const alice1 = await who(before, 'alice', 'a1');
  const alice2 = await who(before, 'alice', 'a2');
  const bob = (await who(before, 'bob', 'b1'))!.split(':')[1];
  await before.controller.revoke(bob, { reason: 'LOGOUT' });
  // A touch still waiting in the batch when the server stops must be written, not lost. Real time
  // past the touch interval (as the instance's memory measures it) makes the next use a touch.
  await sleep(200);
  const usingAt = Date.now();
  await who(before, 'alice', 'a1');
  const usedAt = Date.now();
  await before.stop();

  const after = await start(t, database);
  // Read before any request on the new server touches it.
  const [row] = await query<{ created_at: Date | string; last_seen_at: Date | string }>(
    after.controller,
    'select created_at, last_seen_at from gsc_session where id = ?',
    [alice1!.split(':')[1]],
  );
  const seen = new Date(row.last_seen_at).getTime();
  t.true(seen - new Date(row.created_at).getTime() >= 150, 'the last touch before shutdown was flushed');
  // The touch carries the time of that use: between the request and its answer, however slow a
  // loaded machine made them (with room for the instance's estimate of the database clock).
  t.true(
    seen >= usingAt - 250 && seen <= usedAt + 250,
    `last seen ${row.last_seen_at}, used between ${new Date(usingAt).toISOString()} and ${new Date(usedAt).toISOString()}`,
  );

  t.is(await who(after, 'alice', 'a1'), alice1, 'the same key is the same session');
  t.is(await who(after, 'alice', 'a2'), alice2);
  t.like(await failure(after.client('alice', 'a3').request('{ hello }')), {
    code: 'SESSION_LIMIT_EXCEEDED',
    extensions: { level: 'USER', limit: 2 },
  });
  t.like(await failure(after.client('bob', 'b1').request('{ hello }')), {
    code: 'SESSION_REVOKED',
    extensions: { reason: 'LOGOUT' },
  });
  t.is((await query(after.controller, 'select 1 from gsc_session')).length, 3, 'no session lost, none added');
}

test('sessions survive a restart on the embedded database kept in a directory', async (t) => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'gsc-restart-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  await survivesRestart(t, { embedded: { dataDir } });
});

if (onPostgres) {
  test('sessions survive a restart on PostgreSQL', async (t) => {
    const db = await ownDatabase(t);
    await survivesRestart(t, db.option());
  });
}
