/**
 * The bounds and the origin policy of governed WebSocket connections (docs/contract.md §12,
 * "Bounds, defences, origins, refusal shape"): what one client may open and send, checked
 * before anything is parsed or governed, each refusal a documented close code or error.
 */
import type { IncomingMessage } from 'node:http';
import type { GraphQLError } from 'graphql';
import { SessionConfigError, webSocketLimitExceeded } from './errors.js';

/** Resource bounds of `sessions.websocket(...)`; every one has a default. */
export interface WebSocketLimits {
  /**
   * The largest message, in bytes, enforced by `ws` before it is read into memory or parsed
   * (`maxPayload` of the `WebSocketServer`): past it the socket is closed with 1009. Default
   * 102,400 (100 kB, the HTTP body limit of Express's `express.json()`).
   */
  maxPayload?: number;
  /** The largest `connectionParams`, in bytes of JSON: past it, 4400. Default 16,384 (Node's header limit). */
  maxConnectionParamsBytes?: number;
  /** Operations (subscriptions, queries) running at once on one socket: past it, an `error` message. Default 100. */
  maxSubscriptionsPerSocket?: number;
  /** Sockets of one session open at once on this instance: past it, 4429. Default 10. */
  maxSocketsPerSession?: number;
  /** Sockets without a session open at once on this instance: past it, 1013. Default 1,000. */
  maxAnonymousSockets?: number;
}

/**
 * Which pages may open a socket (browsers send `Origin` on every upgrade; other clients usually
 * send none). `'same-origin'` (the default): no `Origin`, or one whose host is the request's
 * `Host`. A list: no `Origin`, or one of these exact origins (`https://app.example.com`), or
 * the same origin if the list holds `'same-origin'`. A function decides alone.
 */
export type AllowedOrigins =
  | 'same-origin'
  | readonly string[]
  | ((origin: string | undefined, request: IncomingMessage) => boolean);

export const WEBSOCKET_LIMIT_DEFAULTS: Readonly<Required<WebSocketLimits>> = Object.freeze({
  maxPayload: 102_400,
  maxConnectionParamsBytes: 16_384,
  maxSubscriptionsPerSocket: 100,
  maxSocketsPerSession: 10,
  maxAnonymousSockets: 1_000,
});

/** Close codes of the bounds, with graphql-ws's client's behaviour (docs/contract.md §12). */
export const BOUND_CLOSE_CODES = {
  /** Sent by `ws` itself for a message over `maxPayload`; graphql-ws's client does not retry it. */
  messageTooBig: 1009,
  /** graphql-ws's BadRequest: not retried (the same params would be refused again). */
  connectionParams: 4400,
  /** graphql-ws's "too many": not retried (the session already has its sockets). */
  socketsPerSession: 4429,
  /** Try Again Later: the instance is full; graphql-ws's client retries it with backoff. */
  anonymousSockets: 1013,
  /** The `WebSocketServer` was not built with `serverOptions`: the bounds and origins would not hold. */
  misconfigured: 4500,
} as const;

/** What the host spreads into `new WebSocketServer({ server, path, ...serverOptions })`. */
export interface WebSocketServerOptions {
  maxPayload: number;
  verifyClient(
    info: { origin: string; secure: boolean; req: IncomingMessage },
    callback: (verified: boolean, code?: number, message?: string) => void,
  ): void;
}

/** The parts of graphql-ws' connection context the bounds read. */
interface BoundedSocket {
  connectionParams?: Readonly<Record<string, unknown>>;
  subscriptions?: Record<string, unknown>;
  extra: { request: IncomingMessage };
}

type Refusal = [code: number, reason: string];

function positiveInteger(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new SessionConfigError(
      `Invalid option "${name}" of sessions.websocket(): expected a positive integer, got ${String(value)}.`,
    );
  }
  return value;
}

function resolveLimits(limits: WebSocketLimits | undefined): Required<WebSocketLimits> {
  if (limits !== undefined && (typeof limits !== 'object' || limits === null)) {
    throw new SessionConfigError('Invalid option "limits" of sessions.websocket(): expected an object.');
  }
  const resolved: Required<WebSocketLimits> = { ...WEBSOCKET_LIMIT_DEFAULTS };
  for (const [name, value] of Object.entries(limits ?? {})) {
    if (!(name in WEBSOCKET_LIMIT_DEFAULTS)) {
      throw new SessionConfigError(
        `Unknown option "limits.${name}" of sessions.websocket(); known: ${Object.keys(WEBSOCKET_LIMIT_DEFAULTS).join(', ')}.`,
      );
    }
    if (value !== undefined) resolved[name as keyof WebSocketLimits] = positiveInteger(`limits.${name}`, value);
  }
  return resolved;
}

/**
 * The predicate of an `allowedOrigins` value, for the host's HTTP CORS answer to follow the same
 * policy as the upgrades (the demo does). Throws `SessionConfigError` for a bad value.
 */
export function originPolicy(
  allowed: AllowedOrigins | undefined,
): (origin: string | undefined, request: IncomingMessage) => boolean {
  if (allowed === undefined || allowed === 'same-origin') return sameOrigin;
  if (typeof allowed === 'function') return allowed;
  if (!Array.isArray(allowed)) {
    throw new SessionConfigError(
      "Invalid option \"allowedOrigins\" of sessions.websocket(): expected 'same-origin', a list of origins (and 'same-origin') or a function.",
    );
  }
  const origins = new Set<string>();
  let withSameOrigin = false;
  for (const origin of allowed) {
    if (origin === 'same-origin') {
      withSameOrigin = true;
      continue;
    }
    let parsed: string | undefined;
    try {
      parsed = new URL(String(origin)).origin;
    } catch {}
    if (parsed === undefined || parsed === 'null' || parsed !== origin) {
      throw new SessionConfigError(
        `Invalid option "allowedOrigins" of sessions.websocket(): "${String(origin)}" is not an origin (scheme://host[:port], no path), e.g. "https://app.example.com".`,
      );
    }
    origins.add(parsed);
  }
  return (origin, request) =>
    origin === undefined || origins.has(origin) || (withSameOrigin && sameOrigin(origin, request));
}

/** A browser's page on the same host and port as the endpoint, or a client that sends no `Origin`. */
function sameOrigin(origin: string | undefined, request: IncomingMessage): boolean {
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === request.headers.host;
  } catch {
    return false;
  }
}

/** The bounds of one `sessions.websocket(...)`: its counters live as long as its server. */
export class WebSocketBounds {
  readonly limits: Required<WebSocketLimits>;
  readonly serverOptions: WebSocketServerOptions;
  private readonly originAllowed: (origin: string | undefined, request: IncomingMessage) => boolean;
  /** Upgrades that went through `verifyClient`: the proof that the server was built with `serverOptions`. */
  private readonly verified = new WeakSet<IncomingMessage>();
  private readonly counted = new WeakMap<object, () => void>();
  /** Sockets already gone: one that closes while its connect is governed is never counted. */
  private readonly gone = new WeakSet<object>();
  private readonly perSession = new Map<string, number>();
  private anonymous = 0;
  private warnedMisconfigured = false;

  constructor(
    options: { limits?: WebSocketLimits; allowedOrigins?: AllowedOrigins },
    private readonly onMisconfigured: (message: string) => void,
  ) {
    this.limits = resolveLimits(options.limits);
    this.originAllowed = originPolicy(options.allowedOrigins);
    this.serverOptions = {
      maxPayload: this.limits.maxPayload,
      verifyClient: ({ req }, callback) => {
        const header = req.headers.origin;
        const origin = typeof header === 'string' && header !== '' ? header : undefined;
        let allowed: boolean;
        try {
          allowed = this.originAllowed(origin, req);
        } catch {
          allowed = false;
        }
        if (!allowed) return callback(false, 403, 'Forbidden: origin not allowed');
        this.verified.add(req);
        callback(true);
      },
    };
  }

  /** On `connection_init`, before the host's context runs: the server's wiring and the params' size. */
  checkConnect(socket: BoundedSocket): Refusal | undefined {
    if (!this.verified.has(socket.extra.request)) {
      if (!this.warnedMisconfigured) {
        this.warnedMisconfigured = true;
        this.onMisconfigured(
          'WebSocket connections are refused: the WebSocketServer was not created with sessions.websocket(...).serverOptions ' +
            '(new WebSocketServer({ server, path, ...live.serverOptions })), so neither the message size bound nor the origin policy would hold.',
        );
      }
      return [BOUND_CLOSE_CODES.misconfigured, 'WEBSOCKET_SERVER_MISCONFIGURED'];
    }
    const params = socket.connectionParams;
    if (params !== undefined) {
      const bytes = Buffer.byteLength(JSON.stringify(params));
      if (bytes > this.limits.maxConnectionParamsBytes)
        return [BOUND_CLOSE_CODES.connectionParams, 'WEBSOCKET_LIMIT_EXCEEDED:CONNECTION_PARAMS'];
    }
    return undefined;
  }

  /**
   * Counts an admitted socket, by session key hash or as anonymous; refuses it past the bound.
   * `socketClosed` gives its place back.
   */
  admitSocket(socket: object, sessionKeyHash: string | undefined): Refusal | undefined {
    if (this.gone.has(socket)) return undefined;
    if (sessionKeyHash === undefined) {
      if (this.anonymous >= this.limits.maxAnonymousSockets)
        return [BOUND_CLOSE_CODES.anonymousSockets, 'WEBSOCKET_LIMIT_EXCEEDED:ANONYMOUS_SOCKETS'];
      this.anonymous++;
      this.counted.set(socket, () => this.anonymous--);
      return undefined;
    }
    const open = this.perSession.get(sessionKeyHash) ?? 0;
    if (open >= this.limits.maxSocketsPerSession)
      return [BOUND_CLOSE_CODES.socketsPerSession, 'WEBSOCKET_LIMIT_EXCEEDED:SOCKETS_PER_SESSION'];
    this.perSession.set(sessionKeyHash, open + 1);
    this.counted.set(socket, () => {
      const left = (this.perSession.get(sessionKeyHash) ?? 1) - 1;
      if (left > 0) this.perSession.set(sessionKeyHash, left);
      else this.perSession.delete(sessionKeyHash);
    });
    return undefined;
  }

  /** Gives a closed socket's place back (idempotent). */
  socketClosed(socket: object): void {
    this.gone.add(socket);
    this.counted.get(socket)?.();
    this.counted.delete(socket);
  }

  /** On `subscribe`: graphql-ws has already registered this operation in `subscriptions`. */
  checkSubscribe(socket: BoundedSocket): GraphQLError | undefined {
    const running = socket.subscriptions ? Object.keys(socket.subscriptions).length : 0;
    const limit = this.limits.maxSubscriptionsPerSocket;
    if (running <= limit) return undefined;
    return webSocketLimitExceeded(
      'maxSubscriptionsPerSocket',
      limit,
      `Too many operations on this connection: at most ${limit} may run at once. Complete one first.`,
    );
  }
}
