import test from 'ava';
import { GraphQLClient } from 'graphql-request';
import { createTestDatabase } from './helpers/database.js';
import { failure, startTestServer } from './helpers/server.js';

test('a first request admits, the same key proceeds, a second key over the cap is refused, anonymous passes', async (t) => {
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

test('values with SQL punctuation are data: a browser user agent, quotes and semicolons in ids', async (t) => {
  const db = await createTestDatabase();
  t.teardown(() => db.drop());
  const s = await startTestServer({ database: db.option() });
  t.teardown(() => s.stop());
  const userId = `o'brien; drop table gsc_session; --`;
  const browser = new GraphQLClient(s.url, {
    headers: {
      'x-user': userId,
      'x-session': "key'; select 1; --",
      'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
    },
  });
  const first = await browser.request<{ whoami: string }>('{ whoami }');
  t.true(first.whoami.startsWith(`${userId}:`));
  t.deepEqual(await browser.request('{ whoami }'), first);
});
