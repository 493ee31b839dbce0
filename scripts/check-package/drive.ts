/**
 * Drives an examples/ app with a real client (graphql-request), as scripts/check-package.sh
 * does after installing the packed tarball: login twice, a governed field (the second session is
 * refused), activeSessions, logout, the logged-out token refused, an anonymous logout refused.
 * Usage: tsx scripts/check-package/drive.ts <url> [schema-first]. Exits non-zero on any failure.
 */
import { ClientError, GraphQLClient, gql } from 'graphql-request';

const [url, style] = process.argv.slice(2);
if (!url) throw new Error('usage: drive.ts <url> [schema-first]');

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

await step('logout (requireSession) ends the session', async () => {
  const { data, errors } = await client(first.token).rawRequest<{ logout: boolean }>('mutation { logout }');
  check(!errors?.length && data.logout === true, 'logout true', { data, errors });
});

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
