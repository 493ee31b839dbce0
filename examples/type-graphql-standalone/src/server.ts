// examples/type-graphql-standalone/src/server.ts: type-graphql with Apollo's standalone server.
// Run: npm install && npm run build && npm start   (PORT, DATABASE_URL optional)
import 'reflect-metadata';
import { randomBytes, randomUUID } from 'node:crypto';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { GraphQLError } from 'graphql';
import { requireSession, SessionController, type UserSessionView } from 'graphql-session-controller';
import { sessionResolvers, UniqueSession, UserSession } from 'graphql-session-controller/type-graphql';
import { Arg, buildSchema, Ctx, Field, Mutation, ObjectType, Query, Resolver } from 'type-graphql';

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

/** Reads `Authorization: Bearer <token>`. */
function contextFrom(authorization: string | undefined): MyContext {
  const token = authorization?.startsWith('Bearer ') ? authorization.slice('Bearer '.length) : undefined;
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
@ObjectType()
class LoginPayload {
  @Field(() => String)
  token!: string;

  @Field(() => UserSession)
  session!: UserSessionView;
}

@Resolver()
class AppResolver {
  @Query(() => String, { nullable: true, description: 'The signed-in user, or null.' })
  me(@Ctx() ctx: MyContext): string | null {
    return ctx.user?.id ?? null;
  }

  @Query(() => String, { nullable: true }) // nullable: a refused seat resolves to null + an error
  @UniqueSession({ max: 1 }) // one session per user at a time
  exam(@Ctx() ctx: MyContext): string {
    return `Exam paper for ${requireSession(ctx).userId}`;
  }

  @Mutation(() => LoginPayload)
  async login(
    @Arg('username', () => String) username: string,
    @Arg('password', () => String) password: string,
    @Ctx() ctx: MyContext,
  ): Promise<LoginPayload> {
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
  }

  @Mutation(() => Boolean)
  async logout(@Ctx() ctx: MyContext): Promise<boolean> {
    // requireSession: an anonymous caller gets UNAUTHENTICATED (401).
    await sessions.revoke(requireSession(ctx).id, { reason: 'LOGOUT' });
    return true;
  }
}

const schema = await buildSchema({ resolvers: [AppResolver, ...sessionResolvers(sessions)] });
const server = new ApolloServer<MyContext>({
  schema,
  plugins: [sessions.plugin()],
  // Apollo would stop on SIGINT/SIGTERM and re-raise the signal before sessions.close() ran; the
  // handlers below stop both, in order.
  stopOnTerminationSignals: false,
});
const { url } = await startStandaloneServer(server, {
  listen: { port: Number(process.env.PORT ?? 4000) },
  context: async ({ req }) => contextFrom(req.headers.authorization),
});
console.log(`ready at ${url}`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, async () => {
    await server.stop(); // the standalone server also closes its HTTP server
    await sessions.close(); // flushes batched last-seen writes
    process.exit(0);
  });
}
