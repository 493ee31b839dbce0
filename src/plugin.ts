import type { ApolloServerPlugin } from '@apollo/server';
import type { SessionController } from './controller.js';

/**
 * Wires the request lifecycle to the controller: every request that carries an identity is
 * checked after its operation is resolved and before it executes, so a refusal costs no
 * resolver work and its HTTP status (401/403/503) reaches the client.
 */
export function sessionPlugin(controller: SessionController): ApolloServerPlugin<any> {
  if (!controller.options.enabled) {
    // The kill switch: no per-request hook at all, so the baseline is the bare server.
    return {};
  }
  return {
    async serverWillStart() {
      return {
        async serverWillStop() {
          await controller.flush();
        },
      };
    },
    async requestDidStart() {
      return {
        async didResolveOperation({ contextValue }) {
          await controller.handleRequest(contextValue);
        },
      };
    },
  };
}
