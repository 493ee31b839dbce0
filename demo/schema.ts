import { GraphQLError, type GraphQLSchema } from 'graphql';
import {
  Args,
  ArgsType,
  buildSchema,
  Ctx,
  Field,
  Int,
  Mutation,
  ObjectType,
  Query,
  Resolver,
  Root,
  Subscription,
} from 'type-graphql';
import {
  currentSession,
  type Identity,
  type SessionController,
  SessionErrorCode,
  type UserSessionView,
} from '../src/index.js';
import { sessionResolvers, UniqueSession, UserSession } from '../src/type-graphql.js';
import type { LoginThrottle } from './throttle.js';
import type { DemoTokens } from './tokens.js';
import { checkPassword } from './users.js';

export interface DemoContext {
  identity: Identity | null;
  /** Where the request came from: recorded on the session at login. */
  client: { ip: string | null; userAgent: string | null };
}

// An args class keeps the arguments in their declared order (username, password) in the schema.
@ArgsType()
class LoginArgs {
  @Field(() => String)
  username!: string;

  @Field(() => String)
  password!: string;
}

@ObjectType()
class LoginPayload {
  @Field(() => String)
  token!: string;

  @Field(() => UserSession)
  session!: UserSessionView;
}

/**
 * The signed-in caller. The demo's own authentication (the token) says who it is; the library's
 * session is there too unless session control is off (SESSION_CONTROL=off).
 */
function signedIn(ctx: DemoContext): { userId: string; sessionId: string | null } {
  if (!ctx.identity) {
    throw new GraphQLError('Sign in first: send Authorization: Bearer <token> from the login mutation.', {
      extensions: { code: SessionErrorCode.UNAUTHENTICATED },
    });
  }
  return { userId: ctx.identity.userId, sessionId: currentSession(ctx)?.id ?? null };
}

/** The demo's own fields (docs/contract.md §7); the session API comes from the controller. */
export async function buildDemoSchema(
  controller: SessionController<DemoContext>,
  tokens: DemoTokens,
  throttle: LoginThrottle,
): Promise<GraphQLSchema> {
  @Resolver()
  class DemoResolver {
    @Query(() => String, { nullable: true, description: "The caller's user id." })
    me(@Ctx() ctx: DemoContext): string | null {
      return ctx.identity?.userId ?? null;
    }

    @Query(() => String, { description: 'Any signed-in session may read this.' })
    dashboard(@Ctx() ctx: DemoContext): string {
      return `Welcome ${signedIn(ctx).userId}`;
    }

    @Query(() => String, { nullable: true, description: 'One session per user at a time.' })
    @UniqueSession({ max: 1 })
    exam(@Ctx() ctx: DemoContext): string {
      return `Exam paper for ${signedIn(ctx).userId}`;
    }

    @Query(() => String, { nullable: true, description: 'Two sessions in the whole app at a time (licence seats).' })
    @UniqueSession({ max: 2, scope: 'APP' })
    seat(@Ctx() ctx: DemoContext): string {
      return `Seat taken by ${signedIn(ctx).userId}`;
    }

    @Subscription(() => Int, {
      description: 'Seconds left in the exam, one tick a second; one session per user at a time (over WebSocket).',
      subscribe: () => examClock(EXAM_SECONDS),
    })
    @UniqueSession({ max: 1 })
    examTimer(@Root() secondsLeft: number): number {
      return secondsLeft;
    }

    @Mutation(() => LoginPayload, { description: 'Admits a session: may fail with SESSION_LIMIT_EXCEEDED.' })
    async login(
      @Args(() => LoginArgs) { username, password }: LoginArgs,
      @Ctx() ctx: DemoContext,
    ): Promise<LoginPayload> {
      // Throttled per address and per username before the password is even checked (throttle.ts).
      await throttle.attempt(username, ctx.client.ip);
      const user = checkPassword(username, password);
      if (!user) {
        await throttle.failed(username);
        throw new GraphQLError('Wrong username or password.', {
          extensions: { code: SessionErrorCode.UNAUTHENTICATED },
        });
      }
      await throttle.succeeded(username);
      const { token, sessionKey } = await tokens.issue(user.username);
      const session = await controller.openSession(
        {
          userId: user.username,
          sessionKey,
          groups: user.groups,
          ip: ctx.client.ip,
          userAgent: ctx.client.userAgent,
        },
        // The operation's context: a second login in the same operation is refused.
        ctx,
      );
      // The session the returned token carries: the client's current session from now on.
      return { token, session: controller.userSession(session, { current: true }) };
    }

    @Mutation(() => Boolean, { description: 'Ends the current session (reason LOGOUT).' })
    async logout(@Ctx() ctx: DemoContext): Promise<boolean> {
      const { userId, sessionId } = signedIn(ctx);
      if (sessionId) await controller.revoke(sessionId, { reason: 'LOGOUT', by: userId });
      return true;
    }
  }

  return buildSchema({
    resolvers: [DemoResolver, ...sessionResolvers(controller, { subscriptions: true })],
    validate: false,
    // type-graphql insists on a PubSub for any subscription; these bring their own streams.
    pubSub: { publish: () => {}, subscribe: () => (async function* () {})() },
  });
}

/** The demo exam lasts an hour. */
const EXAM_SECONDS = 3_600;

/** Seconds left, once a second, until zero. Ends when the subscriber goes (its seat with it). */
async function* examClock(seconds: number): AsyncGenerator<number> {
  for (let left = seconds; left >= 0; left--) {
    yield left;
    if (left > 0) await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
}
