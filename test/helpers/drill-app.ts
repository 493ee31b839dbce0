/**
 * What the fault drills (drills/*.test.ts) serve and how they call it. It uses the library's
 * public surface only (`src/index.js`), plus `startTestServer` for the Apollo server.
 */
import { request as httpRequest } from 'node:http';
import { makeExecutableSchema } from '@graphql-tools/schema';
import { currentSession, type SessionController } from '../../src/index.js';
import { type RunningServer, startTestServer, type TestContext } from './server.js';

type ServerOptions = Parameters<typeof startTestServer>[0];

/** The host's own fields: who am I (through the plugin), and an explicit login (openSession). */
const hostTypeDefs = /* GraphQL */ `
  type Query {
    whoami: String
  }
  type Mutation {
    login(user: String!, key: String!): String!
  }
`;

/** The session API beside a host schema with a login that admits through `openSession`. */
function drillSchema(controller: SessionController<TestContext>) {
  return makeExecutableSchema({
    typeDefs: [controller.typeDefs, hostTypeDefs],
    resolvers: [
      controller.resolverMap,
      {
        Query: {
          whoami: (_: unknown, __: unknown, ctx: TestContext) => {
            const session = currentSession(ctx);
            return session ? `${session.userId}:${session.id}` : null;
          },
        },
        Mutation: {
          login: async (_: unknown, args: { user: string; key: string }) =>
            (
              await controller.openSession({
                userId: args.user,
                sessionKey: args.key,
                ip: '127.0.0.1',
                userAgent: 'drill',
              })
            ).id,
        },
      },
    ],
  });
}

/** A drill instance: controller + Apollo server on `options.database`, stopped in teardown. */
export async function startDrillServer(
  t: { teardown(fn: () => unknown): void },
  options: ServerOptions,
): Promise<RunningServer> {
  const server = await startTestServer(options, drillSchema);
  t.teardown(() => server.stop());
  return server;
}

export interface Answer {
  /** `ok`, or `CODE status` of the first error, `timeout`, or `network CODE`. */
  outcome: string;
  status: number;
  /** When it was sent and answered, performance.now() milliseconds. */
  sentAt: number;
  answeredAt: number;
  data?: Record<string, unknown> | null;
  errors?: Array<{ message: string; extensions?: Record<string, unknown> }>;
}

export interface Caller {
  user?: string;
  key?: string;
}

/**
 * One GraphQL POST on a fresh connection (no keep-alive, so a connection the server dropped
 * cannot fail the next request), with a deadline. Never throws: the answer says what happened.
 */
export function gql(
  url: string,
  query: string,
  { variables, as, timeoutMs = 15_000 }: { variables?: Record<string, unknown>; as?: Caller; timeoutMs?: number } = {},
): Promise<Answer> {
  const sentAt = performance.now();
  const body = JSON.stringify({ query, variables });
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
    ...(as?.user ? { 'x-user': as.user } : {}),
    ...(as?.key ? { 'x-session': as.key } : {}),
  };
  return new Promise((resolve) => {
    let settled = false;
    const done = (answer: Omit<Answer, 'sentAt' | 'answeredAt'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...answer, sentAt, answeredAt: performance.now() });
    };
    const req = httpRequest(url, { method: 'POST', headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', (error) =>
        done({ outcome: `network ${(error as NodeJS.ErrnoException).code ?? error.message}`, status: 0 }),
      );
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        let parsed: { data?: Record<string, unknown> | null; errors?: Answer['errors'] } = {};
        try {
          parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          return done({ outcome: `unparsable ${status}`, status });
        }
        const first = parsed.errors?.[0];
        const outcome = first
          ? `${String(first.extensions?.code ?? 'NO_CODE')} ${status}`
          : status === 200
            ? 'ok'
            : `HTTP ${status}`;
        done({ outcome, status, data: parsed.data, errors: parsed.errors });
      });
    });
    const timer = setTimeout(() => {
      done({ outcome: 'timeout', status: 0 });
      req.destroy();
    }, timeoutMs);
    req.on('error', (error) =>
      done({ outcome: `network ${(error as NodeJS.ErrnoException).code ?? error.message}`, status: 0 }),
    );
    req.end(body);
  });
}

export const wait = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The p-th percentile (0–100) by the nearest-rank method. */
export function percentile(values: number[], p: number): number {
  if (!values.length) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** How many times each outcome occurred. */
export function tally(outcomes: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of outcomes) counts[o] = (counts[o] ?? 0) + 1;
  return counts;
}

export const ms = (value: number) => `${Math.round(value)} ms`;
