// examples/schema-first-express/src/server.ts: schema-first (no type-graphql) on Express 5, in a
// schema with its own `PageInfo` type (the library's is `SessionPageInfo`: the two never clash),
// with subscriptions over graphql-ws on the same port, governed like HTTP requests.
// Run: npm install && npm run build && npm start   (PORT, DATABASE_URL optional)
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { expressMiddleware } from '@as-integrations/express5';
import { makeExecutableSchema } from '@graphql-tools/schema';
import express from 'express';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { bearerToken, requireSession, SessionController } from 'graphql-session-controller';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';

// ── Your authentication. A stand-in: users and opaque tokens in memory. ─────────────────────────
interface User {
  id: string;
  roles: string[];
}
const users = new Map<string, User & { password: string }>([
  ['alice', { id: 'alice', roles: [], password: 'alice-password' }],
  ['admin', { id: 'admin', roles: ['admin'], password: 'admin-password' }],
]);
/** token -> who it belongs to, and its id (the session key the library governs). */
const tokens = new Map<string, { user: User; tokenId: string }>();

/** What every resolver gets as its context. Anonymous requests have neither field. */
export interface MyContext {
  user?: User;
  tokenId?: string;
}

/** Who a bearer token (from `Authorization: Bearer <token>`, read by `bearerToken`) belongs to. */
function contextFrom(token: string | null): MyContext {
  const found = token ? tokens.get(token) : undefined;
  return found ? { user: found.user, tokenId: found.tokenId } : {};
}

// ── The session controller. ─────────────────────────────────────────────────────────────────────
const sessions = await SessionController.create<MyContext>({
  database: process.env.DATABASE_URL, // unset or empty: embedded PostgreSQL (PGlite) in memory
  // Your authentication says who the caller is; the library governs that session.
  identify: (ctx) =>
    ctx.user && ctx.tokenId ? { userId: ctx.user.id, sessionKey: ctx.tokenId, groups: ctx.user.roles } : null,
  user: { maxSessions: 3 },
  isAdmin: (identity) => identity.groups?.includes('admin') ?? false,
});

// ── Your schema. ────────────────────────────────────────────────────────────────────────────────
const typeDefs = /* GraphQL */ `
  type Query {
    me: String
    "One session per user at a time; a refused seat resolves to null with an error."
    exam: String @uniqueSession(max: 1)
    articles(first: Int = 10): ArticleConnection!
  }

  type Mutation {
    login(username: String!, password: String!): LoginPayload!
    logout: Boolean!
  }

  type Subscription {
    "Seconds into the exam, once a second, while this session holds the exam's one seat."
    examClock: Int! @uniqueSession(max: 1)
  }

  type LoginPayload {
    token: String!
    session: UserSession!
  }

  type Article {
    id: ID!
    title: String!
  }

  type ArticleEdge {
    cursor: String!
    node: Article!
  }

  "This app's own PageInfo: the session API's is SessionPageInfo."
  type PageInfo {
    hasNextPage: Boolean!
    endCursor: String
  }

  type ArticleConnection {
    edges: [ArticleEdge!]!
    pageInfo: PageInfo!
  }
`;

async function* examClock() {
  for (let second = 0; ; second++) {
    yield { examClock: second };
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
}

const articles = [
  { id: '1', title: 'Sessions, seats and caps' },
  { id: '2', title: 'Why PageInfo names clash' },
];

const resolvers = {
  Query: {
    me: (_: unknown, __: unknown, ctx: MyContext) => ctx.user?.id ?? null,
    exam: (_: unknown, __: unknown, ctx: MyContext) => `Exam paper for ${requireSession(ctx).userId}`,
    articles: (_: unknown, { first }: { first: number }) => {
      const page = articles.slice(0, first);
      return {
        edges: page.map((node) => ({ cursor: node.id, node })),
        pageInfo: { hasNextPage: articles.length > page.length, endCursor: page.at(-1)?.id ?? null },
      };
    },
  },
  Mutation: {
    login: async (_: unknown, { username, password }: { username: string; password: string }, ctx: MyContext) => {
      const user = users.get(username);
      if (!user || user.password !== password) {
        throw new GraphQLError('Wrong username or password.', {
          extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } },
        });
      }
      const token = randomBytes(24).toString('base64url');
      const tokenId = randomUUID();
      // Admits the session now; throws SESSION_LIMIT_EXCEEDED if a cap refuses it. With the
      // operation's context, a second login in the same operation (aliases) is refused.
      const session = await sessions.openSession({ userId: user.id, sessionKey: tokenId, groups: user.roles }, ctx);
      tokens.set(token, { user: { id: user.id, roles: user.roles }, tokenId });
      return { token, session: sessions.userSession(session, { current: true }) };
    },
    logout: async (_: unknown, __: unknown, ctx: MyContext) => {
      // requireSession: an anonymous caller gets UNAUTHENTICATED (401).
      await sessions.revoke(requireSession(ctx).id, { reason: 'LOGOUT' });
      return true;
    },
  },
  Subscription: {
    examClock: { subscribe: examClock },
  },
};

// sessions.typeDefs: the @uniqueSession directive and the session API; the transformer enforces
// @uniqueSession on the fields that declare it.
const schema = sessions.transformSchema(
  makeExecutableSchema({ typeDefs: [sessions.typeDefs, typeDefs], resolvers: [sessions.resolverMap, resolvers] }),
);

// ── Your defences, built once for both transports. ──────────────────────────────────────────────
// Apollo Server and sessions.websocket take the same three options: parseOptions (a token limit
// stops a huge document while it is parsed), validationRules (e.g. graphql-armor's depth, alias
// and cost rules) and formatError.
const defences = {
  parseOptions: { maxTokens: 2_000 },
  validationRules: [],
  // "Did you mean …?" maps the schema for a stranger: answer without it.
  formatError: (formatted: GraphQLFormattedError) => ({
    ...formatted,
    message: formatted.message.replace(/ ?Did you mean .+\?/, ''),
  }),
};

// ── Express 5. ──────────────────────────────────────────────────────────────────────────────────
const app = express();
const httpServer = http.createServer(app);
// Subscriptions on the same port and path. sessions.websocket checks the session on connect and
// on every subscribe, and closes the socket (4401) the moment the session is revoked, anywhere.
// Its bounds have defaults (messages up to 100 kB, 10 sockets per session, …); allowedOrigins
// defaults to 'same-origin' (browsers on other sites are refused at the upgrade, 403).
const live = sessions.websocket({
  schema,
  ...defences,
  // Clients send { authorization: 'Bearer <token>' } as connectionParams (the key in any case).
  context: ({ connectionParams }) => contextFrom(bearerToken(connectionParams)),
});
// serverOptions: the message size bound (before parsing) and the origin check at the upgrade.
const wsServer = new WebSocketServer({ server: httpServer, path: '/graphql', ...live.serverOptions });
const subscriptions = useServer(live, wsServer);
const server = new ApolloServer<MyContext>({
  schema,
  ...defences,
  plugins: [
    sessions.plugin(),
    ApolloServerPluginDrainHttpServer({ httpServer }),
    // Open sockets close when the server stops, before sessions.close().
    { serverWillStart: async () => ({ drainServer: async () => subscriptions.dispose() }) },
  ],
  // Apollo would stop on SIGINT/SIGTERM and re-raise the signal before sessions.close() ran; the
  // handlers below stop both, in order.
  stopOnTerminationSignals: false,
});
await server.start();
app.use(
  '/graphql',
  express.json({ limit: '100kb' }),
  expressMiddleware(server, { context: async ({ req }) => contextFrom(bearerToken(req.headers.authorization)) }),
);
const port = Number(process.env.PORT ?? 4000);
await new Promise<void>((resolve) => httpServer.listen({ port }, resolve));
console.log(`ready at http://localhost:${port}/graphql`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, async () => {
    await server.stop(); // the drain plugin closes the HTTP server
    await sessions.close(); // flushes batched last-seen writes
    process.exit(0);
  });
}
