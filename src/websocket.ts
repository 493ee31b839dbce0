/**
 * Governed WebSocket connections (docs/contract.md §8): what `useServer` of graphql-ws needs, with
 * the session checked on connect and on every subscribe through the same runtime as HTTP, sockets
 * tracked so that a revocation closes them fleet-wide, and `@uniqueSession` seats held by the
 * subscriptions that use them. Typed structurally, so the main entry needs no graphql-ws types.
 */
import type { IncomingMessage } from 'node:http';
import {
  type DocumentNode,
  type ExecutionResult,
  type FragmentDefinitionNode,
  GraphQLError,
  type GraphQLSchema,
  getOperationAST,
  isObjectType,
  parse,
  type SelectionSetNode,
  validate,
} from 'graphql';
import { fragmentsOf, rootFieldCounts, sessionApiCost } from './api/cost.js';
import type { UniqueSessionConfig } from './directive/config.js';
import { UNIQUE_SESSION_EXTENSION } from './directive/enforce.js';
import {
  costLimitExceeded,
  SessionErrorCode,
  sessionLimitExceeded,
  storeUnavailable,
  unauthenticated,
} from './errors.js';
import { leaseScopeKey } from './policy/lease.js';
import { setRequestSession } from './request-session.js';
import { CLOSE_CODES, type ConnectionRegistry } from './runtime/connections.js';
import type { Governed, LeaseRuntime, SessionRuntime } from './runtime/contracts.js';
import type { LeaseKeeper } from './runtime/lease-keeper.js';
import type { LiveOperation, LiveOperations } from './runtime/live-operations.js';
import type { SocketStoreGuard } from './runtime/socket-store-guard.js';
import type { LeaseKey } from './store/lease-table.js';
import type { StoredSession } from './store/rows.js';
import {
  type AllowedOrigins,
  WebSocketBounds,
  type WebSocketLimits,
  type WebSocketServerOptions,
} from './websocket-bounds.js';
import { refusalShape, resolveDefences, type SharedDefences } from './websocket-defences.js';

/** A connection as the host's context function sees it. */
export interface WebSocketConnection {
  /** The `connectionParams` the client sent (convention: `{ authorization: 'Bearer <token>' }`). */
  connectionParams: Readonly<Record<string, unknown>> | undefined;
  /** The HTTP upgrade request (headers, remote address). */
  request: IncomingMessage;
}

export interface GovernedWebSocketOptions<TContext> extends SharedDefences {
  schema: GraphQLSchema;
  /** Resource bounds, each with a default (websocket-bounds.ts). */
  limits?: WebSocketLimits;
  /** Which origins may open a socket; default `'same-origin'` (and clients that send no `Origin`). */
  allowedOrigins?: AllowedOrigins;
  /**
   * Builds the context of an operation on a connection, as your HTTP context function does for a
   * request; `identify(context)` then says who is connected. Called on connect and for every
   * operation (each gets a context of its own).
   */
  context: (connection: WebSocketConnection) => TContext | Promise<TContext>;
}

/** The parts of graphql-ws' connection context the library uses. */
interface SocketContext {
  connectionParams?: Readonly<Record<string, unknown>>;
  subscriptions?: Record<string, unknown>;
  extra: { socket: { close(code?: number, reason?: string): void }; request: IncomingMessage };
}

interface SubscribePayload {
  query: string;
  operationName?: string | null;
  variables?: Record<string, unknown> | null;
}

/** What `useServer(options, wsServer)` takes, as far as the library fills it in. */
export interface GovernedServerOptions extends ReturnType<typeof refusalShape> {
  schema: GraphQLSchema;
  /**
   * What the host spreads into its server, so that the message size bound holds before parsing
   * and the origin policy at the upgrade: `new WebSocketServer({ server, path, ...live.serverOptions })`.
   * A server built without it has its connections refused (4500 `WEBSOCKET_SERVER_MISCONFIGURED`).
   */
  serverOptions: WebSocketServerOptions;
  onConnect(ctx: SocketContext): Promise<boolean>;
  onSubscribe(
    ctx: SocketContext,
    id: string,
    payload: SubscribePayload,
  ): Promise<
    | readonly GraphQLError[]
    | {
        schema: GraphQLSchema;
        document: DocumentNode;
        operationName?: string | null;
        variableValues?: Record<string, unknown> | null;
        contextValue: unknown;
      }
  >;
  /** Wraps each operation's stream so that ending it takes effect at once (docs/contract.md §12). */
  onOperation(
    ctx: SocketContext,
    id: string,
    payload: unknown,
    args: unknown,
    result: unknown,
  ): AsyncIterableIterator<ExecutionResult, undefined> | undefined;
  onComplete(ctx: SocketContext, id: string): Promise<void>;
  onClose(ctx: SocketContext): Promise<void>;
}

export interface WebSocketRuntimes {
  sessions: Pick<SessionRuntime, 'govern' | 'identify'>;
  leases: LeaseRuntime;
  connections: Pick<ConnectionRegistry, 'open'>;
  maxApiCallsPerRequest: number;
  /** The operations streaming on this instance's sockets: ended at once, counted until they finish. */
  operations: LiveOperations;
  /** Keeps the seats of live subscriptions, and tells when one is gone. */
  leaseKeeper: Pick<LeaseKeeper, 'hold'>;
  /** Fail-closed: whether revocations can be confirmed (new governed connections are refused if not). */
  storeGuard: Pick<SocketStoreGuard, 'confirm'>;
  /** The kill switch: `false` serves operations without governing them (directives are inert). */
  enabled: boolean;
  /** Where a misconfigured server is reported (the `logger` option). */
  logError(message: string): void;
}

/** Seats one subscription holds, kept by the seat keeper while it lives. */
interface HeldLeases {
  leases: Array<{ field: string; config: UniqueSessionConfig }>;
  session: StoredSession;
  /** Stops keeping them; returns those no other subscription of the session holds. */
  stopKeeping: () => LeaseKey[];
  /** The refusal that ends the subscription once a seat is found gone. */
  lost?: GraphQLError;
  /** The subscription ended: an event still in flight must not take its seats again. */
  ended: boolean;
}

interface ConnectionState {
  context: unknown;
  governed: Governed;
  forget: (() => void) | undefined;
  subscriptions: Map<string, HeldLeases>;
  /** The streams of this socket's operations, ended when it goes. */
  operations: Map<string, LiveOperation<ExecutionResult>>;
  closed: boolean;
}

/** Refusals as WebSocket close codes and reasons (`CODE` or `CODE:detail`). */
function closeFor(error: unknown): [number, string] {
  const extensions = error instanceof GraphQLError ? error.extensions : undefined;
  switch (extensions?.code) {
    case SessionErrorCode.SESSION_REVOKED:
      return [CLOSE_CODES.unauthorized, `SESSION_REVOKED:${String(extensions.reason)}`];
    case SessionErrorCode.SESSION_EXPIRED:
      return [CLOSE_CODES.unauthorized, `SESSION_EXPIRED:${String(extensions.reason)}`];
    case SessionErrorCode.SESSION_LIMIT_EXCEEDED:
      return [CLOSE_CODES.forbidden, `SESSION_LIMIT_EXCEEDED:${String(extensions.level)}`];
    case SessionErrorCode.SESSION_STORE_UNAVAILABLE:
      return [CLOSE_CODES.unavailable, SessionErrorCode.SESSION_STORE_UNAVAILABLE];
    default:
      // A token the host's context or identify refused, or anything else about who is calling.
      return [CLOSE_CODES.unauthorized, SessionErrorCode.UNAUTHENTICATED];
  }
}

/** `useServer` options that govern every connection and operation like an HTTP request. */
export function governedWebSocket<TContext>(
  runtimes: WebSocketRuntimes,
  { schema, context, limits, allowedOrigins, ...shared }: GovernedWebSocketOptions<TContext>,
): GovernedServerOptions {
  // Validated here, when the host sets the server up: a bad option fails at start-up.
  const bounds = new WebSocketBounds({ limits, allowedOrigins }, runtimes.logError);
  const defences = resolveDefences(shared);
  const states = new WeakMap<SocketContext, ConnectionState>();
  /** Sockets already closed: an operation that starts after its socket went ends at once. */
  const gone = new WeakSet<SocketContext>();
  const connectionOf = (ctx: SocketContext): WebSocketConnection => ({
    connectionParams: ctx.connectionParams,
    request: ctx.extra.request,
  });
  const close = (ctx: SocketContext, error: unknown) => {
    const [code, reason] = closeFor(error);
    ctx.extra.socket.close(code, reason);
  };
  const release = (state: ConnectionState, id: string) => {
    state.operations.get(id)?.return();
    state.operations.delete(id);
    const held = state.subscriptions.get(id);
    if (!held) return;
    state.subscriptions.delete(id);
    held.ended = true;
    const free = new Set(held.stopKeeping().map((lease) => lease.field));
    // A seat found gone is not given up again: another session may hold it by now.
    if (held.lost) return;
    for (const { field, config } of held.leases)
      if (free.has(field)) void runtimes.leases.release(field, config, held.session).catch(() => {});
  };

  const refuse = (ctx: SocketContext, [code, reason]: [number, string]) => {
    ctx.extra.socket.close(code, reason);
    return false;
  };

  return {
    schema,
    serverOptions: bounds.serverOptions,
    ...refusalShape(defences),

    async onConnect(ctx) {
      const outOfBounds = bounds.checkConnect(ctx);
      if (outOfBounds) return refuse(ctx, outOfBounds);
      if (!runtimes.enabled) return true;
      try {
        const connectionContext = await context(connectionOf(ctx));
        // Fail-closed: a signed-in connection is refused while revocations cannot be confirmed.
        if (!(await runtimes.storeGuard.confirm()) && (await runtimes.sessions.identify(connectionContext)))
          throw storeUnavailable();
        const governed = await runtimes.sessions.govern(connectionContext);
        const state: ConnectionState = {
          context: connectionContext,
          governed,
          forget: undefined,
          subscriptions: new Map(),
          operations: new Map(),
          closed: false,
        };
        const overCount = bounds.admitSocket(ctx, governed.session?.keyHash);
        if (overCount) return refuse(ctx, overCount);
        if (governed.session) {
          state.forget = runtimes.connections.open(governed.session, (code, reason) =>
            ctx.extra.socket.close(code, reason),
          );
        }
        states.set(ctx, state);
        return true;
      } catch (error) {
        close(ctx, error);
        // graphql-ws closes again with 4403; the socket keeps the first code and reason.
        return false;
      }
    },

    async onSubscribe(ctx, id, payload) {
      const state = states.get(ctx);
      if (runtimes.enabled && (!state || state.closed)) return [new GraphQLError('The connection is closed.')];
      const tooMany = bounds.checkSubscribe(ctx);
      if (tooMany) return [tooMany];
      let document: DocumentNode;
      try {
        document = parse(payload.query, defences.parseOptions);
      } catch (error) {
        return [error instanceof GraphQLError ? error : new GraphQLError(String(error))];
      }
      const invalid = validate(schema, document, defences.rules);
      if (invalid.length) return invalid;
      const operation = getOperationAST(document, payload.operationName ?? undefined);
      if (!operation) return [new GraphQLError('Unable to identify operation.')];
      const fragments = fragmentsOf(document);
      const cost = sessionApiCost(operation, fragments);
      if (cost > runtimes.maxApiCallsPerRequest) return [costLimitExceeded(runtimes.maxApiCallsPerRequest, cost)];

      // Every operation is governed again: a session revoked or expired since connect is refused
      // (and its socket closed), exactly as its next HTTP request would be.
      const contextValue = (await context(connectionOf(ctx))) as object;
      const execution = {
        schema,
        document,
        operationName: payload.operationName,
        variableValues: payload.variables,
        contextValue,
      };
      if (!runtimes.enabled || !state) return execution;
      let governed: Governed;
      try {
        governed = await runtimes.sessions.govern(contextValue);
      } catch (error) {
        close(ctx, error);
        return [error instanceof GraphQLError ? error : new GraphQLError('The session could not be checked.')];
      }
      // `@uniqueSession` on subscription fields: the seat is taken before the stream starts and
      // held while it lives; a refusal ends this subscription only.
      const leases =
        operation.operation === 'subscription' ? governedRootFields(schema, operation.selectionSet, fragments) : [];
      let held: HeldLeases | undefined;
      setRequestSession(contextValue, {
        identity: governed.identity,
        session: governed.session,
        leases: leases.length ? keptLeases(runtimes.leases, () => held) : runtimes.leases,
      });
      if (leases.length) {
        if (!governed.identity) return [unauthenticated('This subscription requires a signed-in session.', false)];
        if (governed.session) {
          const session = governed.session;
          try {
            for (const lease of leases)
              await runtimes.leases.acquire(lease.field, lease.config, governed.identity, session);
          } catch (error) {
            return [error instanceof GraphQLError ? error : new GraphQLError(String(error))];
          }
          // Kept, never taken again: a seat revoked or released ends the subscription with the
          // field's refusal (docs/contract.md §12).
          const holding: HeldLeases = (held = { leases, session, stopKeeping: () => [], ended: false });
          holding.stopKeeping = runtimes.leaseKeeper.hold(
            leases.map(({ field, config }) => ({
              field,
              scopeKey: leaseScopeKey(config.scope, session.userId),
              sessionId: session.id,
            })),
            (lease) => {
              const config = leases.find((s) => s.field === lease.field)?.config;
              holding.lost = leaseLost(lease.field, config?.max ?? 1);
              state.operations.get(id)?.fail(holding.lost);
            },
          );
          state.subscriptions.set(id, holding);
        }
      }
      return execution;
    },

    onOperation(ctx, id, _payload, _args, result) {
      if (!isAsyncIterable(result)) return undefined;
      const stream = runtimes.operations.track(result as AsyncIterable<ExecutionResult>);
      if (gone.has(ctx)) {
        // The socket went while the operation started: it ends before its first event.
        void stream.return();
        return stream;
      }
      const state = states.get(ctx);
      // Not governed (the kill switch): graphql-ws' own return() on close ends it, at once.
      if (!state) return stream;
      state.operations.set(id, stream);
      const lost = state.subscriptions.get(id)?.lost;
      if (lost) stream.fail(lost);
      return stream;
    },

    async onComplete(ctx, id) {
      const state = states.get(ctx);
      if (state) release(state, id);
    },

    async onClose(ctx) {
      gone.add(ctx);
      bounds.socketClosed(ctx);
      const state = states.get(ctx);
      if (!state) return;
      state.closed = true;
      state.forget?.();
      for (const id of new Set([...state.subscriptions.keys(), ...state.operations.keys()])) release(state, id);
      states.delete(ctx);
    },
  };
}

/**
 * The subscription's root fields that carry `@uniqueSession`, with their coordinates, through
 * fragment spreads and inline fragments: the session API's cost walk (`rootFieldCounts`). Also
 * read by the envelop plugin (src/envelop/plugin.ts) for subscriptions over SSE.
 */
export function governedRootFields(
  schema: GraphQLSchema,
  selectionSet: SelectionSetNode,
  fragments: Record<string, FragmentDefinitionNode>,
): Array<{ field: string; config: UniqueSessionConfig }> {
  const type = schema.getSubscriptionType();
  if (!type || !isObjectType(type)) return [];
  const fields = type.getFields();
  const found: Array<{ field: string; config: UniqueSessionConfig }> = [];
  for (const name of rootFieldCounts(selectionSet, fragments).keys()) {
    const config = fields[name]?.extensions?.[UNIQUE_SESSION_EXTENSION] as UniqueSessionConfig | undefined;
    if (config) found.push({ field: `${type.name}.${name}`, config });
  }
  return found;
}

/**
 * The seats of one subscription as its events' resolvers see them: a seat the subscription holds
 * is kept by the seat keeper, so an event asks nothing of the store and never takes a seat back
 * (once revoked, released or ended, the event is refused); other governed fields ask as usual.
 */
function keptLeases(leases: LeaseRuntime, heldLeases: () => HeldLeases | undefined): LeaseRuntime {
  return {
    acquire: async (field, config, identity, session) => {
      const held = heldLeases();
      if (!held?.leases.some((lease) => lease.field === field)) return leases.acquire(field, config, identity, session);
      if (held.lost) throw held.lost;
      if (held.ended) throw leaseLost(field, config.max);
    },
    release: (field, config, session) => leases.release(field, config, session),
  };
}

/** A subscription whose seat was revoked or released: the field's refusal, sent as graphql-ws' `error`. */
function leaseLost(field: string, max: number): GraphQLError {
  return sessionLimitExceeded('VIEW', max, field);
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof (value as { [Symbol.asyncIterator]?: unknown } | null)?.[Symbol.asyncIterator] === 'function';
}
