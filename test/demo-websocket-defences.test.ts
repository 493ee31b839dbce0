/**
 * Issue 17, items 3, 4 and 8 and the origin policy, on the real demo (`npm start`'s entry
 * point): its socket has the same defences as its HTTP endpoint, its logins cannot be
 * multiplied by aliases over either, one origin policy answers upgrades and CORS, a subscription
 * over HTTP is the client's mistake, and a 1 MB message is refused before it is parsed.
 */
import test, { type ExecutionContext } from 'ava';
import { createTestDatabase } from './helpers/database.js';
import { type DemoProcess, login, startDemoProcess } from './helpers/demo-process.js';
import { connect, subscribe, type TestParams, upgrade } from './helpers/ws.js';

async function startDemo(t: ExecutionContext): Promise<{ demo: DemoProcess; ws: string }> {
  const db = await createTestDatabase();
  t.teardown(() => db.drop());
  const demo = await startDemoProcess({ NODE_ENV: undefined, ...(db.url ? { DATABASE_URL: db.url } : {}) });
  t.teardown(() => demo.stop());
  return { demo, ws: new URL('graphql', demo.url.replace(/^http/, 'ws')).toString() };
}

type Errors = Array<{ message: string; extensions?: Record<string, unknown> }>;

async function overSocket(t: ExecutionContext, url: string, query: string, params: TestParams = {}) {
  const c = connect(url, params);
  t.teardown(() => c.dispose());
  await c.connected;
  const stream = subscribe(c.client, query);
  await stream.waitFor(1, 10_000);
  return { errors: (stream.error as Errors | undefined) ?? stream.results[0]?.errors, stream, closed: c.closed };
}

async function post(demo: DemoProcess, query: string, headers: Record<string, string> = {}) {
  const response = await fetch(demo.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query }),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as { errors?: Errors } };
}

test.serial(
  'the demo: one set of defences, one origin policy, one admission per operation, on both transports',
  async (t) => {
    const { demo, ws } = await startDemo(t);

    // graphql-armor's rules and the token limit, as over HTTP.
    const aliases = `{ ${Array.from({ length: 20 }, (_, i) => `a${i}: me`).join(' ')} }`;
    const tokens = `{ ${Array.from({ length: 1_215 }, () => 'me').join(' ')} }`;
    for (const query of [aliases, tokens, '{ mee }']) {
      const [overHttp, socket] = [await post(demo, query), await overSocket(t, ws, query)];
      t.truthy(overHttp.body.errors?.[0]?.message);
      t.is(socket.errors?.[0]?.message, overHttp.body.errors?.[0]?.message, 'the same refusal over the socket');
      t.false(/Did you mean/.test(socket.errors?.[0]?.message ?? ''), 'no field suggestions');
    }

    // Ten aliased logins over the socket admit one session.
    const logins = `mutation { ${Array.from({ length: 10 }, (_, i) => `l${i}: login(username: "carol", password: "carol-password") { token }`).join(' ')} }`;
    const socket = await overSocket(t, ws, logins);
    // `login` is non-null: the first refusal ends the operation (graphql-js runs no further root field).
    t.true((socket.errors?.length ?? 0) >= 1);
    t.true(socket.errors!.every((e) => e.extensions?.code === 'ONE_SESSION_PER_OPERATION'));
    const admin = await login(demo.url, 'admin');
    const count = await post(demo, '{ activeSessions(userId: "carol") { totalCount } }', {
      authorization: `Bearer ${admin.login.token}`,
    });
    t.is((count.body as { data?: { activeSessions: { totalCount: number } } }).data?.activeSessions.totalCount, 1);

    // One origin policy: the page's own origin and Apollo Sandbox; no Origin is not a browser.
    const own = new URL(demo.url).origin;
    const sandbox = 'https://sandbox.embed.apollographql.com';
    t.is(await upgrade(ws), 'open');
    t.is(await upgrade(ws, own), 'open');
    t.is(await upgrade(ws, sandbox), 'open');
    t.is(await upgrade(ws, 'https://evil.example'), 403);
    const allowed = await post(demo, '{ me }', { origin: sandbox });
    t.is(allowed.headers.get('access-control-allow-origin'), sandbox);
    const foreign = await post(demo, '{ me }', { origin: 'https://evil.example' });
    t.is(foreign.headers.get('access-control-allow-origin'), null, 'no CORS answer for a foreign page');
    const preflight = await fetch(demo.url, {
      method: 'OPTIONS',
      headers: { origin: sandbox, 'access-control-request-method': 'POST' },
    });
    t.is(preflight.status, 204);

    // A subscription over HTTP: the client's mistake, nothing logged.
    const before = demo.output().length;
    const overHttp = await post(demo, 'subscription { examTimer }');
    t.is(overHttp.status, 400);
    t.is(overHttp.body.errors?.[0]?.extensions?.code, 'BAD_REQUEST');
    t.regex(overHttp.body.errors?.[0]?.message ?? '', /WebSocket/);
    t.is(
      demo
        .output()
        .slice(before)
        .match(/unexpected error|Error:/g),
      null,
      'no stack logged for the subscription',
    );

    // A 1 MB message from an anonymous socket is refused before it is parsed.
    const huge = `{ ${Array.from({ length: 200_000 }, () => 'me').join(' ')} }`;
    const attacker = await overSocket(t, ws, huge);
    t.is((await attacker.closed).code, 1009);
    t.is((await post(demo, '{ me }')).status, 200, 'the demo goes on serving');
  },
);
