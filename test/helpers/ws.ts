import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GraphQLError, type GraphQLSchema } from 'graphql';
import { type Client, createClient } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import WebSocket, { WebSocketServer } from 'ws';
import type { SessionController } from '../../src/controller.js';
import type { GovernedWebSocketOptions } from '../../src/websocket.js';
import type { TestContext } from './server.js';

/** connectionParams of the test clients: who, which session key; `token: 'garbage'` is refused by the host. */
export interface TestParams {
  user?: string;
  key?: string;
  groups?: string[];
  token?: string;
  /** As a real client sends it: `Bearer <token>` (the demo reads it). */
  authorization?: string;
}

/** A graphql-ws server for a controller's schema, on a port of its own; closed in teardown. */
export async function startWsServer(
  t: { teardown(fn: () => unknown): void },
  controller: SessionController<TestContext>,
  schema: GraphQLSchema,
  options: Omit<GovernedWebSocketOptions<TestContext>, 'schema' | 'context'> = {},
): Promise<{ url: string; wss: WebSocketServer; dispose: () => Promise<void> }> {
  const http: Server = createServer();
  const live = controller.websocket({
    schema,
    ...options,
    context: ({ connectionParams, request }) => {
      const params = (connectionParams ?? {}) as TestParams;
      // A host's context refuses a token it cannot read, as the demo's does.
      if (params.token === 'garbage')
        throw new GraphQLError('Invalid token.', { extensions: { code: 'UNAUTHENTICATED' } });
      if (!params.user || !params.key) return { identity: null };
      return {
        identity: {
          userId: params.user,
          sessionKey: params.key,
          groups: params.groups ?? [],
          ip: request.socket.remoteAddress ?? null,
          userAgent: String(request.headers['user-agent'] ?? 'ws-test'),
        },
      };
    },
  });
  const wss = new WebSocketServer({ server: http, path: '/graphql', ...live.serverOptions });
  const serverCleanup = useServer(live, wss);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  let disposed: Promise<void> | undefined;
  const dispose = () => (disposed ??= Promise.resolve(serverCleanup.dispose()));
  t.teardown(async () => {
    await dispose();
    await new Promise<void>((resolve) => http.close(() => resolve()));
  });
  return {
    url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}/graphql`,
    wss,
    dispose,
  };
}

interface Closed {
  code: number;
  reason: string;
  at: number;
}

/** A connected client: its close event, if any, and what it received. */
export interface TestClient {
  client: Client;
  closed: Promise<Closed>;
  /** Resolves once the server acknowledged the connection (rejects if it closed first). */
  connected: Promise<void>;
  dispose(): Promise<void>;
  /**
   * Drops the connection as a closed tab or a lost network does: the TCP socket is destroyed at
   * once, with no close handshake and no `complete` for open subscriptions.
   */
  terminate(): void;
}

export function connect(url: string, params: TestParams): TestClient {
  let onClosed!: (closed: Closed) => void;
  const closed = new Promise<Closed>((resolve) => {
    onClosed = resolve;
  });
  let onConnected!: () => void;
  let onRefused!: (error: Error) => void;
  const connected = new Promise<void>((resolve, reject) => {
    onConnected = resolve;
    onRefused = reject;
  });
  connected.catch(() => {});
  const sockets: WebSocket[] = [];
  // graphql-ws hides its socket: a subclass keeps a hand on it, so a test can drop it abruptly.
  class TrackedWebSocket extends WebSocket {
    constructor(...args: ConstructorParameters<typeof WebSocket>) {
      super(...args);
      sockets.push(this);
    }
  }
  const client = createClient({
    url,
    webSocketImpl: TrackedWebSocket,
    connectionParams: params as Record<string, unknown>,
    lazy: false,
    retryAttempts: 0,
    shouldRetry: () => false,
    onNonLazyError: () => {},
    on: {
      connected: () => onConnected(),
      closed: (event) => {
        const { code, reason } = event as { code: number; reason: string };
        onClosed({ code, reason: String(reason), at: performance.now() });
        onRefused(new Error(`closed ${code} ${reason}`));
      },
    },
  });
  return {
    client,
    closed,
    connected,
    dispose: () => client.dispose() as Promise<void>,
    terminate: () => {
      for (const socket of sockets) socket.terminate();
    },
  };
}

/** Subscribes and collects results; `next()` waits for the next one. */
export function subscribe<T = Record<string, unknown>>(
  client: Client,
  query: string,
  variables?: Record<string, unknown>,
) {
  const results: Array<{
    data?: T | null;
    errors?: ReadonlyArray<{ message: string; extensions?: Record<string, unknown> }>;
  }> = [];
  const waiters: Array<() => void> = [];
  let error: unknown;
  let done = false;
  const unsubscribe = client.subscribe<T>(
    { query, variables },
    {
      next: (value) => {
        results.push(value as never);
        for (const wake of waiters.splice(0)) wake();
      },
      error: (e) => {
        error = e;
        done = true;
        for (const wake of waiters.splice(0)) wake();
      },
      complete: () => {
        done = true;
        for (const wake of waiters.splice(0)) wake();
      },
    },
  );
  return {
    results,
    get error() {
      return error;
    },
    get done() {
      return done;
    },
    unsubscribe,
    /** Waits until there are at least `n` results, or the stream ends, or `timeoutMs` passes. */
    async waitFor(n: number, timeoutMs = 5_000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (results.length < n && !done && Date.now() < deadline) {
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 50);
        });
      }
    },
  };
}

/** A raw `ws` upgrade, with an `Origin` header if given: the HTTP status of a refusal, or `open`. */
export function upgrade(url: string, origin?: string): Promise<number | 'open'> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, 'graphql-transport-ws', { headers: origin ? { origin } : {} });
    socket.once('open', () => {
      socket.close();
      resolve('open');
    });
    socket.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      socket.terminate();
    });
    socket.once('error', reject);
  });
}
