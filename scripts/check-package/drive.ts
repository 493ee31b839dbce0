/**
 * Drives an examples/ app with a real client (graphql-request), as scripts/check-package.sh
 * does after installing the packed tarball: login twice, a governed field (the second session is
 * refused), activeSessions, logout, the logged-out token refused, an anonymous logout refused;
 * schema-first (the Express app) also over graphql-ws: sessionEvents, a governed subscription
 * field, and the logged-out session's socket closed with 4401; the Yoga app (examples/yoga) the
 * same over graphql-ws, and over SSE with graphql-sse's client: a governed subscription field
 * streams, and the logged-out session's stream ends with SESSION_REVOKED in its last event.
 * Usage: tsx scripts/check-package/drive.ts <url> [schema-first|yoga]. Exits non-zero on any failure.
 */
import { ClientError, GraphQLClient, gql } from 'graphql-request';
import { createClient as createSseClient, type ExecutionResult } from 'graphql-sse';
import { type Client, createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [url, style] = process.argv.slice(2);
if (!url) throw new Error('usage: drive.ts <url> [schema-first|yoga]');
/** Both schema-first apps serve subscriptions over graphql-ws; the Yoga app over SSE too. */
const webSockets = style === 'schema-first' || style === 'yoga';

interface GraphQLErrorShape {
  message: string;
  extensions?: Record<string, unknown>;
}

function client(token?: string): GraphQLClient {
  return new GraphQLClient(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, errorPolicy: 'all' });
}

function check(condition: unknown, what: string, got: unknown): void {
  if (!condition) throw new Error(`${what}; got ${JSON.stringify(got)}`);
}

async function step<T>(name: string, run: () => Promise<T>): Promise<T> {
  try {
    const result = await run();
    console.log(`  ✔ ${name}`);
    return result;
  } catch (error) {
    console.error(`  ✘ ${name}: ${(error as Error).message}`);
    throw error;
  }
}

/** A request that must fail as a whole (HTTP error): its status and first error code. */
async function refused(request: Promise<unknown>): Promise<{ status: number; code: unknown }> {
  try {
    await request;
  } catch (error) {
    if (error instanceof ClientError) {
      return { status: error.response.status, code: error.response.errors?.[0]?.extensions?.code };
    }
    throw error;
  }
  throw new Error('expected the request to be refused, but it succeeded');
}

/** A graphql-ws client signed in with a token, and how its socket closed (if it did). */
function socket(token: string): { client: Client; closed: Promise<{ code: number; reason: string; at: number }> } {
  let onClosed!: (closed: { code: number; reason: string; at: number }) => void;
  const closed = new Promise<{ code: number; reason: string; at: number }>((resolve) => {
    onClosed = resolve;
  });
  const client = createClient({
    url: url.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    retryAttempts: 0,
    lazy: false,
    // The close is what the steps check (on.closed); graphql-ws would also print it.
    onNonLazyError: () => {},
    on: {
      closed: (event) => {
        const { code, reason } = event as { code: number; reason: string };
        onClosed({ code, reason: String(reason), at: Date.now() });
      },
    },
  });
  return { client, closed };
}

/** The first `count` results of a subscription, or its error; fails after `ms`. */
function firstResults<T>(client: Client, query: string, count: number, ms = 5_000): Promise<T[]> {
  const results: T[] = [];
  return new Promise<T[]>((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`${results.length} of ${count} results of ${query} within ${ms} ms`));
    }, ms);
    const stop = client.subscribe<T>(
      { query },
      {
        next: (result) => {
          if (result.errors?.length) {
            clearTimeout(timer);
            stop();
            reject(Object.assign(new Error('subscription error'), { errors: result.errors }));
            return;
          }
          results.push(result.data as T);
          if (results.length === count) {
            clearTimeout(timer);
            stop();
            resolve(results);
          }
        },
        error: (error) => {
          clearTimeout(timer);
          reject(error instanceof Error ? error : Object.assign(new Error('subscription error'), { errors: error }));
        },
        complete: () => {},
      },
    );
  });
}

const LOGIN = gql`
  mutation Login($username: String!, $password: String!) {
    login(username: $username, password: $password) {
      token
      session { id current status }
    }
  }
`;
type Login = { login: { token: string; session: { id: string; current: boolean; status: string } } };

const login = () =>
  client()
    .rawRequest<Login>(LOGIN, { username: 'alice', password: 'alice-password' })
    .then(({ data, errors }) => {
      check(
        !errors?.length &&
          data.login.token &&
          data.login.session.current === true &&
          data.login.session.status === 'ACTIVE',
        'login returns a token and the current, active session',
        { data, errors },
      );
      return data.login;
    });

console.log(`driving ${url}`);
const first = await step('login (openSession) returns a token and its session', login);
const second = await step('a second login of the same user', login);

await step('the governed field serves the first session', async () => {
  const { data, errors } = await client(first.token).rawRequest<{ exam: string | null }>('{ exam }');
  check(!errors?.length && data.exam === 'Exam paper for alice', 'exam for session 1', { data, errors });
});

await step(
  'the governed field refuses the second session (SESSION_LIMIT_EXCEEDED, level VIEW), the rest resolves',
  async () => {
    const { data, errors } = await client(second.token).rawRequest<{ exam: string | null; me: string | null }>(
      '{ exam me }',
    );
    const error = (errors as GraphQLErrorShape[] | undefined)?.[0];
    check(data.exam === null && data.me === 'alice', 'exam null, me resolved', { data, errors });
    check(
      error?.extensions?.code === 'SESSION_LIMIT_EXCEEDED' && error.extensions.level === 'VIEW',
      'a VIEW refusal',
      errors,
    );
  },
);

await step('activeSessions lists both sessions, the caller marked current', async () => {
  const { data, errors } = await client(first.token).rawRequest<{
    activeSessions: {
      totalCount: number;
      pageInfo: { hasNextPage: boolean };
      edges: Array<{ node: { id: string; current: boolean } }>;
    };
  }>('{ activeSessions { totalCount pageInfo { hasNextPage endCursor } edges { node { id current } } } }');
  const nodes = data?.activeSessions.edges.map((e) => e.node) ?? [];
  check(!errors?.length && data.activeSessions.totalCount === 2, 'two active sessions', { data, errors });
  check(
    nodes.find((n) => n.current)?.id === first.session.id && nodes.filter((n) => n.current).length === 1,
    'only session 1 is current',
    nodes,
  );
});

if (style === 'schema-first') {
  await step("the app's own PageInfo and the session API's SessionPageInfo live side by side", async () => {
    const { data, errors } = await client(first.token).rawRequest<{
      articles: { pageInfo: { hasNextPage: boolean }; edges: unknown[] };
    }>(
      '{ articles(first: 1) { edges { node { id title } } pageInfo { hasNextPage endCursor } } __type(name: "SessionPageInfo") { name } }',
    );
    check(
      !errors?.length && data.articles.edges.length === 1 && data.articles.pageInfo.hasNextPage === true,
      'articles page',
      { data, errors },
    );
  });
}

let firstSocket: ReturnType<typeof socket> | undefined;
if (webSockets) {
  firstSocket = socket(first.token);
  const secondSocket = socket(second.token);
  const signedIn = firstSocket;
  await step('sessionEvents over graphql-ws: a new sign-in of the user arrives as ADMITTED', async () => {
    type Event = { sessionEvents: { type: string; session: { id: string; userId: string } } };
    const events = firstResults<Event>(
      signedIn.client,
      'subscription { sessionEvents { type session { id userId } } }',
      1,
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    const third = await login();
    const [event] = await events;
    check(
      event.sessionEvents.type === 'ADMITTED' && event.sessionEvents.session.id === third.session.id,
      'ADMITTED with the new session',
      event,
    );
    await client(third.token).request('mutation { logout }');
  });

  await step('a governed subscription field: the seat holder streams, a second session is refused', async () => {
    // The holder's subscription stays open while the second session asks: a completed
    // subscription gives its seat back at once.
    const ticks: number[] = [];
    const stopHolder = signedIn.client.subscribe<{ examClock: number }>(
      { query: 'subscription { examClock }' },
      {
        next: (result) => void (result.data && ticks.push(result.data.examClock)),
        error: () => {},
        complete: () => {},
      },
    );
    try {
      for (let i = 0; i < 100 && ticks.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 50));
      check(ticks[0] === 0 && ticks[1] === 1, 'examClock ticks 0, 1', ticks);
      const refusal = await firstResults(secondSocket.client, 'subscription { examClock }', 1).then(
        (results) => ({ results }),
        (error: { errors?: GraphQLErrorShape[] }) => error,
      );
      const code = 'errors' in refusal ? refusal.errors?.[0]?.extensions?.code : undefined;
      check(code === 'SESSION_LIMIT_EXCEEDED', 'SESSION_LIMIT_EXCEEDED for the second session', refusal);
    } finally {
      stopHolder();
    }
  });
  await secondSocket.client.dispose();

  await step('a browser page of another site is refused at the upgrade (allowedOrigins): 403', async () => {
    const status = await new Promise<number | 'open'>((resolve, reject) => {
      const raw = new WebSocket(url.replace(/^http/, 'ws'), 'graphql-transport-ws', {
        headers: { origin: 'https://evil.example' },
      });
      raw.once('open', () => {
        raw.close();
        resolve('open');
      });
      raw.once('unexpected-response', (_request, response) => {
        resolve(response.statusCode ?? 0);
        raw.terminate();
      });
      raw.once('error', reject);
    });
    check(status === 403, '403 at the upgrade', status);
  });
}

/** An SSE stream (graphql-sse's client, distinct connections mode) read in the background. */
let sseStream: { events: Array<ExecutionResult<Record<string, unknown>, unknown>>; ended: Promise<void> } | undefined;
if (style === 'yoga') {
  sseStream = await step('over SSE: the governed subscription field streams for the seat holder', async () => {
    const sse = createSseClient({ url, headers: { authorization: `Bearer ${first.token}` }, retryAttempts: 0 });
    const events: Array<ExecutionResult<Record<string, unknown>, unknown>> = [];
    const ended = (async () => {
      for await (const event of sse.iterate({ query: 'subscription { examClock }' })) events.push(event);
    })();
    for (let i = 0; i < 100 && events.length < 1; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    check((events[0]?.data as { examClock?: number } | undefined)?.examClock === 0, 'examClock 0 over SSE', events);
    return { events, ended };
  });
}

await step('logout (requireSession) ends the session', async () => {
  const { data, errors } = await client(first.token).rawRequest<{ logout: boolean }>('mutation { logout }');
  check(!errors?.length && data.logout === true, 'logout true', { data, errors });
});

if (firstSocket) {
  const loggedOut = firstSocket;
  await step("the logged-out session's socket is closed: 4401 SESSION_REVOKED:LOGOUT", async () => {
    const closed = await Promise.race([
      loggedOut.closed,
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 2_000).unref()),
    ]);
    check(closed?.code === 4401 && closed.reason === 'SESSION_REVOKED:LOGOUT', '4401 SESSION_REVOKED:LOGOUT', closed);
  });
}

if (sseStream) {
  const stream = sseStream;
  await step("the logged-out session's SSE stream ends, its last event SESSION_REVOKED (LOGOUT)", async () => {
    const ended = await Promise.race([
      stream.ended.then(() => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), 2_000).unref()),
    ]);
    const last = stream.events.at(-1)?.errors?.[0] as GraphQLErrorShape | undefined;
    check(
      ended && last?.extensions?.code === 'SESSION_REVOKED' && last.extensions.reason === 'LOGOUT',
      'the stream ended with SESSION_REVOKED (LOGOUT)',
      { ended, last },
    );
  });
}

await step('the logged-out token is refused: SESSION_REVOKED, HTTP 401', async () => {
  const { status, code } = await refused(client(first.token).request('{ me }'));
  check(status === 401 && code === 'SESSION_REVOKED', '401 SESSION_REVOKED', { status, code });
});

await step('an anonymous logout is refused: UNAUTHENTICATED', async () => {
  const { data, errors } = await client()
    .rawRequest<{ logout: boolean | null }>('mutation { logout }')
    .catch((error: unknown) => {
      if (error instanceof ClientError) return { data: null, errors: error.response.errors };
      throw error;
    });
  check(
    data === null && (errors as GraphQLErrorShape[] | undefined)?.[0]?.extensions?.code === 'UNAUTHENTICATED',
    'UNAUTHENTICATED',
    { data, errors },
  );
});

await step('the second session still works', async () => {
  const { data, errors } = await client(second.token).rawRequest<{ me: string | null }>('{ me }');
  check(!errors?.length && data.me === 'alice', 'me for session 2', { data, errors });
});
console.log('all steps passed');
