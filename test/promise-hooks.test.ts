import { AsyncLocalStorage } from 'node:async_hooks';
import test from 'ava';
import { ownDatabase } from './helpers/core.js';
import { databaseKind } from './helpers/database.js';
import { startTestServer } from './helpers/server.js';

// The first AsyncLocalStorage `run()` or `enterWith()` in a process turns on Node's promise hooks
// for every promise of the process, for good: measured here, a loop of awaits cost three times as
// much afterwards. A session library must not put that cost on its host's whole app, so nothing it
// does (start-up with its migrations, admissions, requests, revocation) may enter one. (MikroORM's
// `em.transactional` does; the migrations ran inside one until this test.) Each test file runs in
// a process of its own, so watching the prototype here sees every entry of this process.
const entered: string[] = [];
for (const method of ['run', 'enterWith'] as const) {
  const original = AsyncLocalStorage.prototype[method] as (...args: unknown[]) => unknown;
  Object.defineProperty(AsyncLocalStorage.prototype, method, {
    configurable: true,
    writable: true,
    value(this: AsyncLocalStorage<unknown>, ...args: unknown[]) {
      entered.push(`${method}: ${new Error().stack?.split('\n').slice(2, 6).join(' <- ')}`);
      return original.apply(this, args);
    },
  });
}

test(`start-up with migrations, admissions, requests and revocation enter no AsyncLocalStorage (${databaseKind})`, async (t) => {
  const db = await ownDatabase(t);
  const server = await startTestServer({ database: db.option(), user: { maxSessions: 1, onLimit: 'EVICT_OLDEST' } });
  t.teardown(() => server.stop());
  t.is((await server.client('alice', 'a1').request<{ hello: string }>('{ hello }')).hello, 'world');
  // A second device evicts the first: the multi-statement admission, in a transaction.
  await server.client('alice', 'a2').request('{ hello }');
  const opened = await server.controller.openSession({ userId: 'bob', sessionKey: 'b1' });
  await server.controller.revoke(opened.id, { reason: 'LOGOUT' });
  t.deepEqual(entered, [], 'no AsyncLocalStorage was entered');
});
