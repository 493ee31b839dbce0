import type { ApolloServerPlugin, GraphQLRequestListener } from '@apollo/server';
import type { GraphQLError } from 'graphql';
import { assertUniqueSessionEnforced, markSchemaInert } from './directive/enforce.js';
import { SessionErrorCode } from './errors.js';
import { isThenable } from './hooks.js';
import type { Logger } from './logger.js';
import { requestGate } from './request-gate.js';
import type { LeaseRuntime, SessionRuntime } from './runtime/contracts.js';

export interface PluginRuntimes {
  sessions: Pick<SessionRuntime, 'govern'>;
  leases: LeaseRuntime;
  /** Writes what was batched, when the server stops. */
  flush(): Promise<void>;
  /** `api.maxCallsPerRequest`. */
  maxApiCallsPerRequest: number;
  /** Apollo's logger becomes the library's, unless the `logger` option gave one. */
  adoptLogger(logger: Logger): void;
}

/**
 * Wires the request lifecycle to the controller: every request that carries an identity is
 * checked after its operation is resolved and before it executes, so a refusal costs no
 * resolver work and its HTTP status (401/403/503) reaches the client.
 */
export function sessionPlugin({
  sessions,
  leases,
  flush,
  maxApiCallsPerRequest,
  adoptLogger,
}: PluginRuntimes): ApolloServerPlugin<any> {
  const gate = requestGate({ sessions, leases, maxApiCallsPerRequest });
  // One listener for every request: it keeps no per-request state (that lives in
  // request-session.ts), and a cached session is settled synchronously inside the hook, so the
  // hot path allocates no promise of its own: Apollo awaits whatever the hooks return, and a
  // settled hook returns one shared resolved promise (a differential CPU profile of the demo, on
  // against off, put the plugin's cost in promise machinery and garbage rather than in its own
  // code). A refusal is returned as a rejected promise, not thrown, so that every other plugin's
  // hook still runs as it would otherwise.
  const listener: GraphQLRequestListener<any> = {
    didResolveOperation({ contextValue, operation, document }) {
      try {
        // The cost bound, then the session (src/request-gate.ts, shared with the envelop plugin).
        const governed = gate(contextValue, operation, document);
        return isThenable(governed) ? (governed as Promise<unknown>).then(NOTHING) : SETTLED;
      } catch (error) {
        return Promise.reject(error);
      }
    },
    // Only requests with errors reach this hook, before Apollo formats their errors.
    didEncounterErrors({ errors }) {
      dropStacktraces(errors);
      return SETTLED;
    },
  };
  const started = Promise.resolve(listener);
  return {
    async serverWillStart({ schema, logger }) {
      adoptLogger(logger);
      // A @uniqueSession field nobody enforces is refused now, not discovered in production.
      assertUniqueSessionEnforced(schema);
      return {
        async serverWillStop() {
          await flush();
        },
      };
    },
    requestDidStart() {
      return started;
    },
  };
}

/**
 * The plugin behind the kill switch (`enabled: false`): no per-request hook at all, so the
 * baseline is the bare server. At start, the schema is marked so that its `@uniqueSession`
 * fields resolve as if undecorated.
 */
export function inertPlugin(): ApolloServerPlugin<any> {
  return {
    async serverWillStart({ schema }) {
      markSchemaInert(schema);
    },
  };
}

const OWN_CODES = new Set<unknown>(Object.values(SessionErrorCode));

/** What a hook that finished synchronously returns: Apollo awaits it like any promise. */
const SETTLED: Promise<void> = Promise.resolve();
const NOTHING = () => {};

/**
 * Apollo adds `extensions.stacktrace` (the error's `stack`) to every error unless `NODE_ENV` is
 * `production`/`test` or the host turns it off, so on a machine with NODE_ENV unset a refused
 * session would show the library's internals. Our errors are expected refusals, not bugs: their
 * stack helps nobody. Apollo formats an error after `didEncounterErrors`, from the same object; a
 * resolver's refusal arrives wrapped by graphql-js with its own stack and our code copied over.
 */
function dropStacktraces(errors: ReadonlyArray<GraphQLError>): void {
  for (const error of errors) {
    if (OWN_CODES.has(error.extensions?.code)) error.stack = undefined;
  }
}
