/**
 * Governed WebSocket connections (docs/contract.md §8): what `useServer` of graphql-ws needs, with
 * the session checked on connect and on every subscribe through the same runtime as HTTP, sockets
 * tracked so that a revocation closes them fleet-wide, and `@uniqueSession` seats held by the
 * subscriptions that use them. Typed structurally, so the main entry needs no graphql-ws types.
 */
import type { IncomingMessage } from 'node:http';
import {
  type DocumentNode,
  GraphQLError,
  type GraphQLSchema,
  getOperationAST,
  isObjectType,
  Kind,
  parse,
  type SelectionNode,
  validate,
} from 'graphql';
import { sessionApiCost } from './api/cost.js';
import type { UniqueSessionConfig } from './directive/config.js';
import { UNIQUE_SESSION_EXTENSION } from './directive/enforce.js';
import { costLimitExceeded, SessionErrorCode, unauthenticated } from './errors.js';
import { setRequestSession } from './request-session.js';
import { CLOSE_CODES, type ConnectionRegistry } from './runtime/connections.js';
import type { Governed, LeaseRuntime, SessionRuntime } from './runtime/contracts.js';
import type { StoredSession } from './store/rows.js';

/** A connection as the host's context function sees it. */
export interface WebSocketConnection {
  /** The `connectionParams` the client sent (convention: `{ authorization: 'Bearer <token>' }`). */
  connectionParams: Readonly<Record<string, unknown>> | undefined;
  /** The HTTP upgrade request (headers, remote address). */
  request: IncomingMessage;
}

export interface GovernedWebSocketOptions<TContext> {
  schema: GraphQLSchema;
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
  extra: { socket: { close(code?: number, reason?: string): void }; request: IncomingMessage };
}

interface SubscribePayload {
  query: string;
  operationName?: string | null;
  variables?: Record<string, unknown> | null;
}

/** What `useServer(options, wsServer)` takes, as far as the library fills it in. */
export interface GovernedServerOptions {
  schema: GraphQLSchema;
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
  onComplete(ctx: SocketContext, id: string): Promise<void>;
  onClose(ctx: SocketContext): Promise<void>;
}

export interface WebSocketRuntimes {
  sessions: Pick<SessionRuntime, 'govern'>;
  leases: LeaseRuntime;
  connections: Pick<ConnectionRegistry, 'open'>;
  maxApiCallsPerRequest: number;
  /** Seats held by a long subscription are refreshed well within `leaseTtl`. */
  leaseTtlMs: number;
  /** The kill switch: `false` serves operations without governing them (directives are inert). */
  governs: boolean;
}

/** Seats one subscription holds, and the timer that keeps them alive. */
interface HeldSeats {
  seats: Array<{ field: string; config: UniqueSessionConfig }>;
  session: StoredSession;
  refresh: NodeJS.Timeout | undefined;
}

interface ConnectionState {
  context: unknown;
  governed: Governed;
  forget: (() => void) | undefined;
  subscriptions: Map<string, HeldSeats>;
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
  { schema, context }: GovernedWebSocketOptions<TContext>,
): GovernedServerOptions {
  const states = new WeakMap<SocketContext, ConnectionState>();
  const connectionOf = (ctx: SocketContext): WebSocketConnection => ({
    connectionParams: ctx.connectionParams,
    request: ctx.extra.request,
  });
  const close = (ctx: SocketContext, error: unknown) => {
    const [code, reason] = closeFor(error);
    ctx.extra.socket.close(code, reason);
  };
  const release = (state: ConnectionState, id: string) => {
    const held = state.subscriptions.get(id);
    if (!held) return;
    state.subscriptions.delete(id);
    clearInterval(held.refresh);
    for (const { field, config } of held.seats)
      void runtimes.leases.release(field, config, held.session).catch(() => {});
  };

  return {
    schema,

    async onConnect(ctx) {
      if (!runtimes.governs) return true;
      try {
        const connectionContext = await context(connectionOf(ctx));
        const governed = await runtimes.sessions.govern(connectionContext);
        const state: ConnectionState = {
          context: connectionContext,
          governed,
          forget: undefined,
          subscriptions: new Map(),
          closed: false,
        };
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
      if (runtimes.governs && (!state || state.closed)) return [new GraphQLError('The connection is closed.')];
      let document: DocumentNode;
      try {
        document = parse(payload.query);
      } catch (error) {
        return [error instanceof GraphQLError ? error : new GraphQLError(String(error))];
      }
      const invalid = validate(schema, document);
      if (invalid.length) return invalid;
      const operation = getOperationAST(document, payload.operationName ?? undefined);
      if (!operation) return [new GraphQLError('Unable to identify operation.')];
      const fragments = Object.fromEntries(
        document.definitions.flatMap((d) => (d.kind === Kind.FRAGMENT_DEFINITION ? [[d.name.value, d]] : [])),
      );
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
      if (!runtimes.governs || !state) return execution;
      let governed: Governed;
      try {
        governed = await runtimes.sessions.govern(contextValue);
      } catch (error) {
        close(ctx, error);
        return [error instanceof GraphQLError ? error : new GraphQLError('The session could not be checked.')];
      }
      setRequestSession(contextValue, {
        identity: governed.identity,
        session: governed.session,
        leases: runtimes.leases,
      });

      // `@uniqueSession` on subscription fields: the seat is taken before the stream starts and
      // held while it lives; a refusal ends this subscription only.
      const seats =
        operation.operation === 'subscription' ? governedRootFields(schema, operation.selectionSet.selections) : [];
      if (seats.length) {
        if (!governed.identity) return [unauthenticated('This subscription requires a signed-in session.', false)];
        if (governed.session) {
          const session = governed.session;
          try {
            for (const seat of seats)
              await runtimes.leases.acquire(seat.field, seat.config, governed.identity, session);
          } catch (error) {
            return [error instanceof GraphQLError ? error : new GraphQLError(String(error))];
          }
          const held: HeldSeats = { seats, session, refresh: undefined };
          const identity = governed.identity;
          held.refresh = setInterval(
            () => {
              for (const seat of seats) {
                void runtimes.leases
                  .acquire(seat.field, { ...seat.config, strict: true }, identity, session)
                  .catch(() => {});
              }
            },
            Math.max(1_000, runtimes.leaseTtlMs / 3),
          );
          held.refresh.unref();
          state.subscriptions.set(id, held);
        }
      }
      return execution;
    },

    async onComplete(ctx, id) {
      const state = states.get(ctx);
      if (state) release(state, id);
    },

    async onClose(ctx) {
      const state = states.get(ctx);
      if (!state) return;
      state.closed = true;
      state.forget?.();
      for (const id of [...state.subscriptions.keys()]) release(state, id);
      states.delete(ctx);
    },
  };
}

/** The subscription's root fields that carry `@uniqueSession`, with their coordinates (also read by src/envelop/plugin.ts). */
export function governedRootFields(
  schema: GraphQLSchema,
  selections: readonly SelectionNode[],
): Array<{ field: string; config: UniqueSessionConfig }> {
  const type = schema.getSubscriptionType();
  if (!type || !isObjectType(type)) return [];
  const fields = type.getFields();
  const found: Array<{ field: string; config: UniqueSessionConfig }> = [];
  for (const selection of selections) {
    if (selection.kind !== Kind.FIELD) continue;
    const config = fields[selection.name.value]?.extensions?.[UNIQUE_SESSION_EXTENSION] as
      | UniqueSessionConfig
      | undefined;
    if (config) found.push({ field: `${type.name}.${selection.name.value}`, config });
  }
  return found;
}
