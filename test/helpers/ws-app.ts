/**
 * A host app built like the demo for live-connection tests: an Apollo server and a graphql-ws
 * server governed by one controller, with the session API (`sessionEvents`), a governed
 * subscription (`ticks`, one seat per user), an ungoverned one (`beats`) and one whose generator waits for an event that never
 * comes (`quiet`, as a host's event stream between two events).
 */
import { makeExecutableSchema } from '@graphql-tools/schema';
import type { ExecutionContext } from 'ava';
import type { SessionController } from '../../src/controller.js';
import { serve, sleep } from './core.js';
import type { RunningServer, TestContext } from './server.js';
import { startWsServer } from './ws.js';

const hostTypeDefs = /* GraphQL */ `
  type Query {
    whoami: String
  }
  type Subscription {
    ticks(count: Int = 1000): Int! @uniqueSession(max: 1)
    quiet: Int! @uniqueSession(max: 1)
    beats: Int!
  }
`;

async function* ticks(count: number) {
  for (let i = 0; i < count; i++) {
    yield { ticks: i };
    await sleep(100); // the stream's own pace: a subscription that lives a while
  }
}

/** Until the next event, which never comes: `return()` cannot reach it before then. */
async function* quiet() {
  await new Promise(() => {});
  yield { quiet: 0 };
}

function schema(controller: SessionController<TestContext>) {
  return controller.transformSchema(
    makeExecutableSchema({
      typeDefs: [controller.typeDefs, hostTypeDefs],
      resolvers: [
        controller.resolverMap,
        {
          Query: { whoami: () => 'someone' },
          Subscription: {
            ticks: { subscribe: (_: unknown, args: { count: number }) => ticks(args.count) },
            quiet: { subscribe: () => quiet() },
            beats: { subscribe: () => ticks(1000), resolve: (event: { ticks: number }) => event.ticks },
          },
        },
      ],
    }),
  );
}

export interface LiveInstance {
  http: RunningServer;
  ws: string;
  /** Shuts the WebSocket server down as a host's shutdown does (graphql-ws closes every socket with 1001). */
  stopWebSocket(): Promise<void>;
}

/** One instance (HTTP and WebSocket) on `database`; stopped in teardown. */
export async function liveInstance(
  t: ExecutionContext,
  database: unknown,
  options: Record<string, unknown> = {},
): Promise<LiveInstance> {
  const http = await serve(t, { database: database as never, syncInterval: 200, ...options }, schema);
  const { url, dispose } = await startWsServer(t, http.controller, await schema(http.controller));
  return { http, ws: url, stopWebSocket: dispose };
}

export const SESSION_EVENTS = /* GraphQL */ `subscription ($userId: ID) {
  sessionEvents(userId: $userId) { type reason session { id userId status } }
}`;
