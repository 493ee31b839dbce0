/**
 * The demo's live connections (issue 11, item 5): subscriptions on the same port and path as
 * HTTP, `sessionEvents`, and `examTimer` (a governed subscription), driven by graphql-ws clients
 * through `npm start`'s entry point.
 */
import test from 'ava';
import { createTestDatabase } from './helpers/database.js';
import { type DemoProcess, demoClient, login, startDemoProcess } from './helpers/demo-process.js';
import { connect, subscribe } from './helpers/ws.js';

async function startDemo(t: import('ava').ExecutionContext): Promise<{ demo: DemoProcess; ws: string }> {
  const db = await createTestDatabase();
  t.teardown(() => db.drop());
  const demo = await startDemoProcess(db.url ? { DATABASE_URL: db.url } : {});
  t.teardown(() => demo.stop());
  const ws = new URL('graphql', demo.url.replace(/^http/, 'ws')).toString();
  return { demo, ws };
}

/** A client that sends its token as the README tells clients to: `{ authorization: 'Bearer …' }`. */
function socket(t: import('ava').ExecutionContext, url: string, token?: string) {
  const client = connect(url, token ? { authorization: `Bearer ${token}` } : {});
  t.teardown(() => client.dispose());
  return client;
}

test.serial(
  'subscriptions on the same port: examTimer ticks for one session per user, sessionEvents follow sign-ins, logout closes the socket with 4401',
  async (t) => {
    const { demo, ws } = await startDemo(t);
    const first = await login(demo.url, 'alice');
    const laptop = socket(t, ws, first.login.token);
    await laptop.connected;

    const timer = subscribe<{ examTimer: number }>(laptop.client, 'subscription { examTimer }');
    await timer.waitFor(2, 5_000);
    t.true(timer.results.length >= 2, 'the exam timer ticks');
    t.is(timer.results[0].data!.examTimer - timer.results[1].data!.examTimer, 1, 'one tick a second, counting down');

    const events = subscribe<{ sessionEvents: { type: string; session: { id: string; current: boolean } } }>(
      laptop.client,
      'subscription { sessionEvents { type reason session { id current } } }',
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    const second = await login(demo.url, 'alice');
    await events.waitFor(1, 5_000);
    t.like(events.results[0]?.data?.sessionEvents, {
      type: 'ADMITTED',
      session: { id: second.login.session.id, current: false },
    });

    const phone = socket(t, ws, second.login.token);
    await phone.connected;
    const refused = subscribe(phone.client, 'subscription { examTimer }');
    await refused.waitFor(1, 5_000);
    const errors =
      (refused.error as Array<{ extensions?: Record<string, unknown> }> | undefined) ?? refused.results[0]?.errors;
    t.like(errors?.[0]?.extensions, { code: 'SESSION_LIMIT_EXCEEDED', level: 'VIEW', field: 'Subscription.examTimer' });

    await demoClient(demo.url, first.login.token).request('mutation { logout }');
    const closed = await laptop.closed;
    t.deepEqual([closed.code, closed.reason], [4401, 'SESSION_REVOKED:LOGOUT']);

    const taken = subscribe<{ examTimer: number }>(phone.client, 'subscription { examTimer }');
    await taken.waitFor(1, 5_000);
    t.false(Boolean(taken.error), "the logged-out session's seat is free");
  },
);

test.serial('a garbage token on connect is closed with 4401 UNAUTHENTICATED; no token is anonymous', async (t) => {
  const { ws } = await startDemo(t);
  const garbage = socket(t, ws, 'not-a-token');
  t.deepEqual(await garbage.closed.then((c) => [c.code, c.reason]), [4401, 'UNAUTHENTICATED']);
  const anonymous = socket(t, ws);
  await anonymous.connected;
  const refused = subscribe(anonymous.client, 'subscription { examTimer }');
  await refused.waitFor(1, 5_000);
  const errors =
    (refused.error as Array<{ extensions?: Record<string, unknown> }> | undefined) ?? refused.results[0]?.errors;
  t.is(errors?.[0]?.extensions?.code, 'UNAUTHENTICATED');
});
