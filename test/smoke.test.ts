import test from 'ava';
import { createTestDatabase } from './helpers/database.js';
import { failure, startTestServer } from './helpers/server.js';

test('smoke', async (t) => {
  const db = await createTestDatabase();
  t.teardown(() => db.drop());
  const s = await startTestServer({ database: db.option(), user: { maxSessions: 1 } });
  t.teardown(() => s.stop());
  const a = await s.client('alice', 'k1').request<{ whoami: string }>('{ whoami }');
  t.regex(a.whoami, /^alice:/);
  const again = await s.client('alice', 'k1').request<{ whoami: string }>('{ whoami }');
  t.is(again.whoami, a.whoami);
  const f = await failure(s.client('alice', 'k2').request('{ whoami }'));
  t.is(f.code, 'SESSION_LIMIT_EXCEEDED');
  t.is(f.status, 403);
  t.deepEqual(await s.client().request('{ hello }'), { hello: 'world' });
});
