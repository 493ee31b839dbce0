import { readFile } from 'node:fs/promises';
import { gql } from '@apollo/client';
import { fetchExchange, Client as UrqlClient } from '@urql/core';
import test from 'ava';
import { ClientError, GraphQLClient } from 'graphql-request';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import {
  createApolloClient,
  createUrqlClient,
  describeRequestFailure,
  readExam,
  sessionRetryPolicy,
  whoAmI,
} from '../docs/clients.js';
import { bearerToken } from '../src/index.js';
import { eventually, serveAlone } from './helpers/core.js';
import { createTestDatabase } from './helpers/database.js';
import { type DemoProcess, LOGIN, login, startDemoProcess } from './helpers/demo-process.js';
import { plainSchema } from './helpers/server.js';
import { connect, startWsServer, subscribe } from './helpers/ws.js';

/*
 * Issue 18, item 8: the clients guide (docs/clients.md) shows the code of docs/clients.ts, and
 * that code works: Apollo Client 4 (HTTP + graphql-ws, extensions.code, errorPolicy 'all'), urql
 * (POST beside Apollo's CSRF prevention), graphql-ws's retries for the library's close codes,
 * and graphql-request errors logged without the variables. Against the demo (`npm start`'s entry
 * point) and, for the close codes, a governed graphql-ws server.
 */

let demo: DemoProcess;
let wsUrl: string;
let dropDatabase: () => Promise<void> = async () => {};
test.before(async () => {
  const db = await createTestDatabase();
  dropDatabase = () => db.drop();
  demo = await startDemoProcess(db.url ? { DATABASE_URL: db.url } : {});
  wsUrl = new URL('graphql', demo.url.replace(/^http/, 'ws')).toString();
});
test.after.always(async () => {
  await demo?.stop();
  await dropDatabase();
});

test('docs/clients.md shows the code of docs/clients.ts, region by region', async (t) => {
  const [code, guide] = await Promise.all([
    readFile(new URL('../docs/clients.ts', import.meta.url), 'utf8'),
    readFile(new URL('../docs/clients.md', import.meta.url), 'utf8'),
  ]);
  const regions = [...code.matchAll(/\/\/ #region ([\w-]+)\n([\s\S]*?)\/\/ #endregion \1\n/g)];
  t.deepEqual(
    regions.map((r) => r[1]),
    ['retry', 'apollo-client', 'urql', 'graphql-request'],
  );
  for (const [, name, body] of regions) {
    t.true(
      guide.includes(`\`\`\`ts\n${body}\`\`\``),
      `docs/clients.md must show region "${name}" of docs/clients.ts as it is`,
    );
  }
});

test.serial(
  "Apollo Client 4: extensions.code read without parsing strings; a seat refusal is a partial result with errorPolicy 'all'; subscriptions over GraphQLWsLink",
  async (t) => {
    const first = await login(demo.url, 'alice');
    const laptop = createApolloClient({ httpUrl: demo.url, wsUrl, token: first.login.token });
    t.teardown(() => laptop.stop());
    t.deepEqual(await readExam(laptop), { dashboard: 'Welcome alice', exam: 'Exam paper for alice', code: undefined });

    const second = await login(demo.url, 'alice');
    const phone = createApolloClient({ httpUrl: demo.url, wsUrl, token: second.login.token });
    t.teardown(() => phone.stop());
    t.deepEqual(
      await readExam(phone),
      { dashboard: 'Welcome alice', exam: null, code: 'SESSION_LIMIT_EXCEEDED' },
      'the seat is taken: the rest of the data comes with the error',
    );

    const ticks = await new Promise<unknown>((resolve, reject) => {
      const subscription = laptop.subscribe({ query: gql`subscription { examTimer }` }).subscribe({
        next: (result) => {
          subscription.unsubscribe();
          resolve(result.data);
        },
        error: reject,
      });
    });
    t.is(typeof (ticks as { examTimer?: unknown }).examTimer, 'number', 'the exam timer ticks for the seat holder');
  },
);

test.serial('urql: POST passes Apollo Server CSRF prevention (its default GET is refused with 400)', async (t) => {
  const { login: bob } = await login(demo.url, 'bob');
  t.deepEqual(await whoAmI(createUrqlClient({ url: demo.url, token: bob.token })), { me: 'bob', code: undefined });

  const byDefault = new UrqlClient({
    url: demo.url,
    exchanges: [fetchExchange],
    fetchOptions: () => ({ headers: { authorization: `Bearer ${bob.token}` } }),
  });
  const refused = await byDefault.query('{ me }', {}).toPromise();
  t.is(refused.data ?? null, null, 'urql as configured by default gets no answer');
  t.is(refused.error?.response?.status, 400);
});

test.serial(
  "graphql-request: a refused login's password is in ClientError.message, never in what we log",
  async (t) => {
    const password = `not-the-password-${process.pid}`;
    const error = await t.throwsAsync(new GraphQLClient(demo.url).request(LOGIN, { username: 'carol', password }));
    t.true(error instanceof ClientError);
    t.true(error!.message.includes(password), 'the hazard is real: graphql-request copies the variables');
    const logged = describeRequestFailure(error);
    t.false(logged.includes(password));
    t.regex(logged, /^HTTP \d{3} \w+: Wrong username or password\.$/);
  },
);

test.serial(
  "connectionParams: { Authorization: 'Bearer …' } (capital A) identifies the socket, as { authorization } does",
  async (t) => {
    for (const [user, key] of [
      ['dave', 'authorization'],
      ['carol', 'Authorization'],
    ]) {
      const { login: signedIn } = await login(demo.url, user);
      const socket = connect(wsUrl, { [key]: `Bearer ${signedIn.token}` });
      t.teardown(() => socket.dispose());
      await socket.connected;
      // A governed subscription: an anonymous socket is refused with UNAUTHENTICATED.
      const timer = subscribe<{ examTimer: number }>(socket.client, 'subscription { examTimer }');
      await timer.waitFor(1, 5_000);
      t.falsy(
        timer.error,
        `with connectionParams.${key} the socket is ${user}'s, not anonymous: ${JSON.stringify(timer.error)}`,
      );
      t.is(typeof timer.results[0]?.data?.examTimer, 'number');
    }
  },
);

test('bearerToken reads the token whatever the case of the key and of the scheme', (t) => {
  t.is(bearerToken({ authorization: 'Bearer abc' }), 'abc');
  t.is(bearerToken({ Authorization: 'bearer abc' }), 'abc');
  t.is(bearerToken({ AUTHORIZATION: 'BEARER abc' }), 'abc');
  t.is(bearerToken('Bearer abc'), 'abc', 'an HTTP header value');
  t.is(bearerToken({ authorization: 'Basic abc' }), null);
  t.is(bearerToken({ authorization: 42 }), null);
  t.is(bearerToken({}), null);
  t.is(bearerToken(undefined), null);
});

// ---------------------------------------------------------------------------------------------
// graphql-ws's retries for the library's close codes
// ---------------------------------------------------------------------------------------------

test.serial(
  'sessionRetryPolicy: 4401 is final (one attempt); 4403 is retried with backoff until a seat frees',
  async (t) => {
    const http = await serveAlone(t, { user: { maxSessions: 1 } });
    const { url } = await startWsServer(t, http.controller, plainSchema());
    const policyClient = (params: Record<string, unknown>) => {
      const seen = { connecting: 0, closes: [] as number[], connected: false, gaveUp: false };
      const client = createClient({
        url,
        webSocketImpl: WebSocket,
        connectionParams: params,
        lazy: false,
        onNonLazyError: () => {
          seen.gaveUp = true;
        },
        ...sessionRetryPolicy,
        on: {
          connecting: () => {
            seen.connecting += 1;
          },
          connected: () => {
            seen.connected = true;
          },
          closed: (event) => {
            seen.closes.push((event as { code: number }).code);
          },
        },
      });
      t.teardown(() => client.dispose());
      return seen;
    };

    // 4401: a revoked session.
    const revoked = await http.controller.openSession({ userId: 'ann', sessionKey: 'ann-revoked' });
    await http.controller.revoke(revoked.id, { reason: 'LOGOUT' });
    const over = policyClient({ user: 'ann', key: 'ann-revoked' });
    await eventually(async () => (over.gaveUp ? true : undefined), 10_000);
    t.deepEqual(over.closes, [4401]);
    t.is(over.connecting, 1, '4401 is not retried');

    // 4403: over the user cap, until the other session ends.
    const holder = await http.controller.openSession({ userId: 'bob', sessionKey: 'bob-1' });
    const waiting = policyClient({ user: 'bob', key: 'bob-2' });
    await eventually(async () => (waiting.closes.length >= 1 ? true : undefined), 10_000);
    t.is(waiting.closes[0], 4403);
    await http.controller.revoke(holder.id, { reason: 'LOGOUT' });
    await eventually(async () => (waiting.connected ? true : undefined), 60_000);
    t.true(waiting.connecting >= 2, 'retried');
    t.false(waiting.gaveUp);
  },
);
