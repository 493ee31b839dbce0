/**
 * The Apollo Server plugin: one request check after the operation is resolved and before it runs;
 * the inert plugin behind the kill switch.
 */
import type { ApolloServerPlugin, GraphQLRequestListener } from '@apollo/server';
import type { GraphQLError } from 'graphql';
import { markLibraryTypesNotCacheable } from './api/cache-hints.js';
import { assertUniqueSessionEnforced, markSchemaDisabled } from './directive/enforce.js';
import { isLibraryError, subscriptionOverHttp } from './errors.js';
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
  /**
   * Apollo's logger becomes the library's while that server runs, unless the `logger` option
   * gave one; returns what gives it back at `serverWillStop`.
   */
  adoptLogger(logger: Logger): () => void;
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
  // hook still runs as it would otherwise; that promise is marked handled before it is returned,
  // because Apollo collects the hooks' promises with `Promise.all(listeners.map(...))`: a plugin
  // after ours that throws synchronously stops the map, and a promise nobody awaits then would
  // be an unhandled rejection, which ends the process by default (docs/contract.md §15).
  const listener: GraphQLRequestListener<any> = {
    didResolveOperation({ contextValue, operation, document }) {
      try {
        // Served over WebSocket only: refused as the client's mistake (400), not run into a 500.
        if (operation?.operation === 'subscription') throw subscriptionOverHttp();
        // The cost bound, then the session (src/request-gate.ts, shared with the envelop plugin).
        const governed = gate(contextValue, operation, document);
        return isThenable(governed) ? handled((governed as Promise<unknown>).then(NOTHING)) : SETTLED;
      } catch (error) {
        return handled(Promise.reject(error));
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
      // A @uniqueSession field nobody enforces is refused now, not discovered in production.
      assertUniqueSessionEnforced(schema);
      markLibraryTypesNotCacheable(schema);
      const giveBackLogger = adoptLogger(logger);
      return {
        async serverWillStop() {
          giveBackLogger();
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
export function disabledPlugin(): ApolloServerPlugin<any> {
  return {
    async serverWillStart({ schema }) {
      markSchemaDisabled(schema);
      // Caps are off, but sessions are still each caller's own.
      markLibraryTypesNotCacheable(schema);
    },
  };
}

/** Returns `promise` itself, with a no-op rejection handler attached so that it is never "unhandled". */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(ignore);
  return promise;
}

function ignore(): void {}

const NOTHING = () => {};

/** What a hook that finished synchronously returns: Apollo awaits it like any promise. */
const SETTLED: Promise<void> = Promise.resolve();

/**
 * Apollo adds `extensions.stacktrace` (the error's `stack`) to every error unless `NODE_ENV` is
 * `production`/`test` or the host turns it off, so on a machine with NODE_ENV unset a refused
 * session would show the library's internals. Our errors are expected refusals, not bugs: their
 * stack helps nobody. Apollo formats an error after `didEncounterErrors`, from the same object; a
 * resolver's refusal arrives wrapped by graphql-js with its own stack and ours as `originalError`.
 * Only errors marked as the library's are touched (never matched by code: a host's FORBIDDEN or
 * Apollo's BAD_USER_INPUT keep their stacks, for the response and for error reporters).
 */
function dropStacktraces(errors: ReadonlyArray<GraphQLError>): void {
  for (const error of errors) {
    if (isLibraryError(error)) error.stack = undefined;
  }
}
