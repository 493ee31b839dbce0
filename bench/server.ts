/**
 * The bench-only server: the library driven directly (`SessionController` + a tiny type-graphql
 * schema + the session API), with the identity taken from headers. The demo has five users with
 * caps; admissions across many distinct users and the 10k/100k/1M scaling runs need a fresh
 * user id and key per request, which this server accepts.
 *
 * Config: `BENCH_SERVER` = JSON of `BenchServerConfig`. Prints `bench server at <url>` when ready;
 * SIGTERM/SIGINT stop it cleanly (pending touches flushed).
 */
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { Arg, buildSchema, Ctx, Mutation, Query, Resolver } from 'type-graphql';
import { type Identity, type LimitPolicy, SessionController } from '../src/index.js';
import { sessionResolvers, UniqueSession } from '../src/type-graphql.js';

/** The bench server's one administrator (the fleet view of `sessions` is theirs; bench/run.ts names it too). */
const BENCH_ADMIN = 'bench-admin';

export interface BenchServerConfig {
  databaseUrl: string;
  /** `false` is the library's kill switch (`enabled: false`): the baseline. */
  sessionControl: boolean;
  appMaxSessions: number | null;
  userMaxSessions: number | null;
  onLimit: LimitPolicy;
}

interface BenchContext {
  identity: Identity | null;
  client: { ip: string | null; userAgent: string | null };
}

function header(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

async function main(): Promise<void> {
  const config = JSON.parse(process.env.BENCH_SERVER ?? '') as BenchServerConfig;
  const controller = await SessionController.create<BenchContext>({
    database: config.databaseUrl,
    identify: (ctx) => ctx.identity,
    app: { maxSessions: config.appMaxSessions },
    user: { maxSessions: config.userMaxSessions, onLimit: config.onLimit },
    idleTimeout: '30m',
    isAdmin: (identity) => identity.userId === BENCH_ADMIN,
    enabled: config.sessionControl,
  });

  @Resolver()
  class BenchResolver {
    @Query(() => String, { description: 'A plain field: what the hot path reads.' })
    dashboard(@Ctx() ctx: BenchContext): string {
      return `Welcome ${ctx.identity?.userId ?? 'guest'}`;
    }

    @Query(() => String, { nullable: true, description: 'One session per user at a time.' })
    @UniqueSession({ max: 1 })
    exam(@Ctx() ctx: BenchContext): string {
      return `Exam paper for ${ctx.identity?.userId ?? 'guest'}`;
    }

    @Mutation(() => String, {
      description:
        'A login: admits a session for (user, key) and returns its id (off: a random id, as a host without the library would).',
    })
    async login(
      @Arg('user', () => String) user: string,
      @Arg('key', () => String) key: string,
      @Ctx() ctx: BenchContext,
    ): Promise<string> {
      if (!config.sessionControl) return randomUUID();
      const session = await controller.openSession({
        userId: user,
        sessionKey: key,
        ip: ctx.client.ip,
        userAgent: ctx.client.userAgent,
      });
      return session.id;
    }
  }

  let server: ApolloServer<BenchContext> | undefined;
  try {
    server = new ApolloServer<BenchContext>({
      schema: await buildSchema({ resolvers: [BenchResolver, ...sessionResolvers(controller)], validate: false }),
      plugins: [controller.plugin()],
      // This process handles SIGINT/SIGTERM itself (below). Apollo's own handlers would stop the
      // server a second time and re-raise the signal, and the process then never exits.
      stopOnTerminationSignals: false,
    });
    const { url } = await startStandaloneServer(server, {
      listen: { port: 0, host: '127.0.0.1' },
      context: async ({ req }) => {
        const userAgent = header(req.headers['user-agent']) ?? null;
        const client = { ip: req.socket.remoteAddress ?? null, userAgent };
        const userId = header(req.headers['x-user']);
        const sessionKey = header(req.headers['x-session']);
        const identity = userId && sessionKey ? { userId, sessionKey, ...client } : null;
        return { identity, client };
      },
    });
    console.log(`bench server at ${url} (session control ${config.sessionControl ? 'on' : 'off'})`);
  } catch (error) {
    await server?.stop().catch(() => {});
    await controller.close();
    throw error;
  }

  const running = server;
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      running
        .stop()
        .then(() => controller.close())
        .then(
          () => process.exit(0),
          (error: unknown) => {
            console.error('bench server: failed to stop cleanly:', error);
            process.exit(1);
          },
        );
    });
  }
}

main().catch((error: unknown) => {
  console.error('bench server failed to start:', error);
  process.exit(1);
});
