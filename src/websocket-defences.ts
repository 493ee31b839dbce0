/**
 * The host's defences and the one refusal shape over WebSocket (docs/contract.md §12, "Bounds,
 * defences, origins, refusal shape"): the same `parseOptions`, `validationRules` and
 * `formatError` the host gives Apollo Server, applied to every operation on a socket; errors
 * sent without `extensions.http` (a status means nothing on a socket); a subscription refused
 * before its stream starts sent as an `error` message, whoever refused it.
 */
import {
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLError,
  type GraphQLFormattedError,
  type ParseOptions,
  specifiedRules,
  subscribe,
  type ValidationRule,
} from 'graphql';
import { SessionConfigError } from './errors.js';

/** Apollo Server's options of the same names: build them once, pass the same object to both. */
export interface SharedDefences {
  /** graphql-js parse options, e.g. `{ maxTokens: 1000 }`. */
  parseOptions?: ParseOptions;
  /** Added to graphql-js's specified rules, e.g. graphql-armor's depth, alias and cost rules. */
  validationRules?: readonly ValidationRule[];
  /** Applied to every error sent over the socket, after `extensions.http` is removed. */
  formatError?: (formattedError: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;
}

export interface ResolvedDefences {
  parseOptions: ParseOptions | undefined;
  rules: readonly ValidationRule[];
  format(error: GraphQLError): GraphQLFormattedError;
}

export function resolveDefences({ parseOptions, validationRules, formatError }: SharedDefences): ResolvedDefences {
  if (parseOptions !== undefined && (typeof parseOptions !== 'object' || parseOptions === null))
    throw new SessionConfigError('Invalid option "parseOptions" of sessions.websocket(): expected an object.');
  if (
    validationRules !== undefined &&
    (!Array.isArray(validationRules) || validationRules.some((rule) => typeof rule !== 'function'))
  )
    throw new SessionConfigError(
      'Invalid option "validationRules" of sessions.websocket(): expected a list of validation rules (functions).',
    );
  if (formatError !== undefined && typeof formatError !== 'function')
    throw new SessionConfigError('Invalid option "formatError" of sessions.websocket(): expected a function.');
  return {
    parseOptions,
    rules: validationRules?.length ? [...specifiedRules, ...validationRules] : specifiedRules,
    format: (error) => {
      const formatted = withoutHttp(error.toJSON());
      return formatError ? formatError(formatted, error) : formatted;
    },
  };
}

function withoutHttp(formatted: GraphQLFormattedError): GraphQLFormattedError {
  if (!formatted.extensions || !('http' in formatted.extensions)) return formatted;
  const { http: _status, ...extensions } = formatted.extensions;
  return { ...formatted, extensions };
}

/** The `useServer` hooks that give every answer over the socket its one shape. */
export function refusalShape(defences: ResolvedDefences) {
  return {
    async onError(_ctx: unknown, _id: string, _payload: unknown, errors: readonly GraphQLError[]) {
      return errors.map(defences.format);
    },
    async onNext(_ctx: unknown, _id: string, _payload: unknown, _args: unknown, result: ExecutionResult) {
      if (!result.errors?.length) return undefined;
      return { ...result, errors: result.errors.map(defences.format) };
    },
    /**
     * graphql-js answers a subscription whose stream could not start (its `subscribe` threw:
     * not signed in, a refused seat) with a result, which graphql-ws sends as `next` then
     * `complete`; a stream that throws is sent as an `error` message, as graphql-ws sends every
     * refusal of `onSubscribe`.
     */
    async subscribe(args: ExecutionArgs) {
      const result = await subscribe(args);
      if (Symbol.asyncIterator in result) return result;
      const [first] = result.errors ?? [];
      return first ? refusedStream(first) : result;
    },
  };
}

/** A stream that ends at once with `error`: graphql-ws sends it as one `error` message. */
function refusedStream(error: GraphQLError): AsyncIterableIterator<never> {
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    next: () => Promise.reject(error),
    return: () => Promise.resolve({ done: true, value: undefined }),
  };
}
