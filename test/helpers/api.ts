import { request as httpRequest } from 'node:http';
import { makeExecutableSchema } from '@graphql-tools/schema';
import type { ExecutionContext, TestFn } from 'ava';
import { GraphQLClient } from 'graphql-request';
import { buildSchema } from 'type-graphql';
import type { SessionController } from '../../src/controller.js';
import { hashSessionKey, type Identity } from '../../src/identity.js';
import { sessionResolvers } from '../../src/type-graphql.js';
import { createTestDatabase } from './database.js';
import { type RunningServer, startTestServer, type TestContext } from './server.js';

type ServerOptions = Parameters<typeof startTestServer>[0];

/** How the host built its schema: the session API must behave the same either way. */
export type SchemaStyle = 'type-graphql' | 'schema-first';
export const SCHEMA_STYLES: readonly SchemaStyle[] = ['type-graphql', 'schema-first'];

export const isAdmin = (identity: Identity) => identity.groups?.includes('admin') ?? false;

/** The host's own schema beside the session API, as a real server would have. */
const hostTypeDefs = /* GraphQL */ `
  type Query {
    whoami: String
  }
`;

function schemaFor(style: SchemaStyle) {
  return async (controller: SessionController<TestContext>) => {
    if (style === 'type-graphql') return buildSchema({ resolvers: sessionResolvers(controller), validate: false });
    return makeExecutableSchema({
      typeDefs: [controller.typeDefs, hostTypeDefs],
      resolvers: [
        controller.resolverMap,
        { Query: { whoami: (_: unknown, __: unknown, ctx: TestContext) => ctx.identity?.userId ?? null } },
      ],
    });
  };
}

/**
 * A fresh connection per request. Starting an embedded database blocks the event loop for a
 * moment; a kept-alive socket the server closed meanwhile would fail a request with ECONNRESET.
 */
function fetchWithoutKeepAlive(url: string, init: RequestInit = {}): Promise<Response> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((value, name) => {
      headers[name] = value;
    });
    const req = httpRequest(url, { method: init.method ?? 'GET', headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const responseHeaders = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          if (value !== undefined) responseHeaders.set(name, Array.isArray(value) ? value.join(', ') : value);
        }
        resolve(new Response(Buffer.concat(chunks), { status: res.statusCode ?? 0, headers: responseHeaders }));
      });
    });
    req.on('error', reject);
    if (init.body !== undefined && init.body !== null) req.write(init.body as string);
    req.end();
  });
}

/** Every response body the API clients received, for the secrets scan. */
class Recorder {
  readonly bodies: string[] = [];
  /** Raw keys handed to clients, and their digests: neither may ever come back. */
  readonly secrets = new Set<string>();

  readonly fetch: typeof fetch = async (input, init) => {
    const response = await fetchWithoutKeepAlive(String(input), init);
    this.bodies.push(JSON.stringify([...response.headers]), await response.clone().text());
    return response;
  };

  remember(sessionKey: string): void {
    this.secrets.add(sessionKey);
    this.secrets.add(hashSessionKey(sessionKey));
  }

  /** The secrets found in any recorded body (or in `extra` texts). */
  leaks(extra: string[] = []): string[] {
    const texts = [...this.bodies, ...extra];
    return [...this.secrets].filter((secret) => texts.some((text) => text.includes(secret)));
  }
}

export interface ApiServer extends RunningServer {
  recorder: Recorder;
  /**
   * A client presenting this identity; the key is remembered for the secrets scan. `headers` adds
   * request headers (e.g. `user-agent`, or `x-ip` for the client address the host records).
   */
  as(userId?: string, sessionKey?: string, groups?: string[], headers?: Record<string, string>): GraphQLClient;
}

/** A server with the session API on a database of its own (unless `database` is given); stopped and dropped in teardown. */
export async function startApiServer(
  t: Pick<ExecutionContext, 'teardown'>,
  style: SchemaStyle,
  options: ServerOptions = {},
): Promise<ApiServer> {
  let database = options.database;
  if (database === undefined) {
    const db = await createTestDatabase();
    t.teardown(() => db.drop());
    database = db.option();
  }
  const server = await startTestServer({ isAdmin, ...options, database }, schemaFor(style));
  t.teardown(() => server.stop());
  const recorder = new Recorder();
  return {
    ...server,
    recorder,
    as(userId, sessionKey, groups, headers = {}) {
      if (sessionKey) recorder.remember(sessionKey);
      return new GraphQLClient(server.url, {
        fetch: recorder.fetch,
        headers: {
          ...headers,
          ...(userId ? { 'x-user': userId } : {}),
          ...(sessionKey ? { 'x-session': sessionKey } : {}),
          ...(groups ? { 'x-groups': groups.join(',') } : {}),
        },
      });
    },
  };
}

let counter = 0;
/** A session key unlike any other, so a leak cannot be a coincidence. */
export function newKey(label = 'key'): string {
  counter += 1;
  return `${label}-${process.pid}-${counter}-${Math.random().toString(36).slice(2)}`;
}

const SESSION_FIELDS = /* GraphQL */ `
  id userId status current createdAt lastSeenAt expiresAt ipAddress userAgent revokedAt revokedReason revokedNote
`;

const LIST = /* GraphQL */ `
  query List($userId: ID, $first: Int, $after: String) {
    activeSessions(userId: $userId, first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { cursor node { ${SESSION_FIELDS} } }
    }
  }
`;

export const REVOKE = /* GraphQL */ `
  mutation Revoke($id: ID!, $reason: String) { revokeSession(id: $id, reason: $reason) { ${SESSION_FIELDS} } }
`;

export const REVOKE_OTHERS = /* GraphQL */ `mutation { revokeOtherSessions }`;

export const REVOKE_USER = /* GraphQL */ `
  mutation RevokeUser($userId: ID!, $reason: String) { revokeUserSessions(userId: $userId, reason: $reason) }
`;

export const STATS = /* GraphQL */ `{ sessionStats { activeSessions activeUsers appLimit defaultUserLimit } }`;

export const RULES = /* GraphQL */ `{ sessionLimitRules { subjectType subject maxSessions } }`;

export const SET_LIMIT = /* GraphQL */ `
  mutation SetLimit($subjectType: LimitSubject!, $subject: String!, $maxSessions: Int) {
    setSessionLimit(subjectType: $subjectType, subject: $subject, maxSessions: $maxSessions) { subjectType subject maxSessions }
  }
`;

export const REMOVE_LIMIT = /* GraphQL */ `
  mutation RemoveLimit($subjectType: LimitSubject!, $subject: String!) {
    removeSessionLimit(subjectType: $subjectType, subject: $subject)
  }
`;

export interface SessionView {
  id: string;
  userId: string;
  status: string;
  current: boolean;
  createdAt: string;
  lastSeenAt: string;
  expiresAt: string | null;
  ipAddress: string | null;
  userAgent: string | null;
  revokedAt: string | null;
  revokedReason: string | null;
  revokedNote: string | null;
}

export interface ListResult {
  activeSessions: {
    totalCount: number;
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
    edges: Array<{ cursor: string; node: SessionView }>;
  };
}

/** Lists one user's sessions (or the caller's) as the given client. */
export async function list(client: GraphQLClient, variables: { userId?: string; first?: number; after?: string } = {}) {
  return (await client.request<ListResult>(LIST, variables)).activeSessions;
}

/** Makes one request so the plugin admits the client's session; returns the session id. */
export async function admit(client: GraphQLClient): Promise<string> {
  const page = await list(client, { first: 100 });
  const current = page.edges.find((e) => e.node.current);
  if (!current) throw new Error('the admitted session is not listed as current');
  return current.node.id;
}

/**
 * One API server for a whole test file: started before the first test, stopped after the last;
 * the file's last check is that no response carried a session key or its digest.
 */
export function useApiServer(test: TestFn, style: SchemaStyle): () => ApiServer {
  let server: ApiServer | undefined;
  const teardowns: Array<() => unknown> = [];
  test.before(async () => {
    server = await startApiServer({ teardown: (fn) => teardowns.unshift(fn) }, style);
  });
  test.after.always(async () => {
    for (const fn of teardowns) await fn();
  });
  test.after('no response carried a session key or its digest', (t) => {
    t.deepEqual(server!.recorder.leaks(), []);
  });
  return () => server!;
}
