// examples/yoga/src/server.ts: schema-first on GraphQL Yoga with the envelop plugin
// (graphql-session-controller/envelop): caps and seats on HTTP, subscriptions over Server-Sent
// Events (Yoga's default) and over graphql-ws on the same port, all governed alike.
// Run: npm install && npm run build && npm start   (PORT, DATABASE_URL optional)
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import { GraphQLError } from 'graphql';
import { bearerToken, requireSession, SessionController } from 'graphql-session-controller';
import { useSessionControl } from 'graphql-session-controller/envelop';
import { useServer } from 'graphql-ws/use/ws';
import { createSchema, createYoga } from 'graphql-yoga';
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
`;

async function* examClock() {
  for (let second = 0; ; second++) {
    yield { examClock: second };
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
}

const resolvers = {
  Query: {
    me: (_: unknown, __: unknown, ctx: MyContext) => ctx.user?.id ?? null,
    exam: (_: unknown, __: unknown, ctx: MyContext) => `Exam paper for ${requireSession(ctx).userId}`,
  },
  Mutation: {
    login: async (_: unknown, { username, password }: { username: string; password: string }) => {
      const user = users.get(username);
      if (!user || user.password !== password) {
        throw new GraphQLError('Wrong username or password.', {
          extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } },
        });
      }
      const token = randomBytes(24).toString('base64url');
      const tokenId = randomUUID();
      // Admits the session now; throws SESSION_LIMIT_EXCEEDED if a cap refuses it.
      const session = await sessions.openSession({ userId: user.id, sessionKey: tokenId, groups: user.roles });
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
  createSchema<MyContext>({ typeDefs: [sessions.typeDefs, typeDefs], resolvers: [sessions.resolverMap, resolvers] }),
);

// ── GraphQL Yoga. ───────────────────────────────────────────────────────────────────────────────
const yoga = createYoga<object, MyContext>({
  schema,
  // First: caps before anything executes, seats, and SSE streams that end when the session is revoked.
  plugins: [useSessionControl(sessions)],
  context: ({ request }) => contextFrom(bearerToken(request.headers.get('authorization'))),
});
const httpServer = http.createServer(yoga);
// graphql-ws on the same port and path. sessions.websocket checks the session on connect and on
// every subscribe, and closes the socket (4401) the moment the session is revoked, anywhere.
// Its bounds have defaults (messages up to 100 kB, 10 sockets per session, …).
const live = sessions.websocket({
  schema,
  // Clients send { authorization: 'Bearer <token>' } as connectionParams (the key in any case).
  context: ({ connectionParams }) => contextFrom(bearerToken(connectionParams)),
});
// serverOptions: the message size bound (before parsing) and the origin check at the upgrade.
const wsServer = new WebSocketServer({ server: httpServer, path: yoga.graphqlEndpoint, ...live.serverOptions });
const subscriptions = useServer(live, wsServer);
const port = Number(process.env.PORT ?? 4000);
await new Promise<void>((resolve) => httpServer.listen({ port }, resolve));
console.log(`ready at http://localhost:${port}${yoga.graphqlEndpoint}`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, async () => {
    await subscriptions.dispose(); // open sockets close first
    httpServer.closeAllConnections(); // SSE streams too
    await new Promise((resolve) => httpServer.close(resolve));
    await sessions.close(); // flushes batched last-seen writes
    process.exit(0);
  });
}
