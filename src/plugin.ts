import type { ApolloServerPlugin, GraphQLRequestListener } from '@apollo/server';
import type { SessionController } from './controller.js';
import { SessionErrorCode } from './errors.js';
import { assertUniqueSessionEnforced, markSchemaInert } from './directive/enforce.js';

/**
 * Wires the request lifecycle to the controller: every request that carries an identity is
 * checked after its operation is resolved and before it executes, so a refusal costs no
 * resolver work and its HTTP status (401/403/503) reaches the client.
 */
export function sessionPlugin(controller: SessionController): ApolloServerPlugin<any> {
  if (!controller.options.enabled) {
    // The kill switch: no per-request hook at all, so the baseline is the bare server. At start,
    // the schema is marked so that its @uniqueSession fields resolve as if undecorated.
    return {
      async serverWillStart({ schema }) {
        markSchemaInert(schema);
      },
    };
  }
  // One listener for every request: it keeps no per-request state (that lives in
  // request-session.ts), and a cached session is settled synchronously inside the hook, so the
  // hot path allocates only the promises Apollo's hook signatures require (measured with a
  // differential CPU profile of the demo, on against off).
  const listener: GraphQLRequestListener<any> = {
    async didResolveOperation({ contextValue }) {
      const pending = controller.handleRequest(contextValue);
      if (pending) await pending;
    },
    async willSendResponse({ response }) {
      const body = response.body;
      stripStacktraces(body.kind === 'single' ? body.singleResult.errors : body.initialResult.errors);
    },
  };
  return {
    async serverWillStart({ schema }) {
      // A @uniqueSession field nobody enforces is refused now, not discovered in production.
      assertUniqueSessionEnforced(schema);
      return {
        async serverWillStop() {
          await controller.flush();
        },
      };
    },
    async requestDidStart() {
      return listener;
    },
  };
}

const OWN_CODES = new Set<unknown>(Object.values(SessionErrorCode));

/**
 * Apollo adds `extensions.stacktrace` to every error unless `NODE_ENV` is `production`/`test` or
 * the host turns it off, so on a machine with NODE_ENV unset a refused session would show the
 * library's internals. Our errors are expected refusals, not bugs: their stack helps nobody.
 */
function stripStacktraces(errors: ReadonlyArray<{ extensions?: Record<string, unknown> }> | undefined): void {
  for (const error of errors ?? []) {
    if (error.extensions && OWN_CODES.has(error.extensions.code)) delete error.extensions.stacktrace;
  }
}
