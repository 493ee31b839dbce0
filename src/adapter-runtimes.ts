/**
 * What a server adapter shipped in an entry of its own (the envelop plugin,
 * `graphql-session-controller/envelop`) is wired to, as `controller.plugin()` wires Apollo's: the
 * controller hands it out under a symbol, so the main entry's documented surface does not grow
 * and the adapter never reaches into the controller's private fields.
 */
import type { RequestGateRuntimes } from './request-gate.js';
import type { ConnectionRegistry } from './runtime/connections.js';

export const ADAPTER_RUNTIMES: unique symbol = Symbol('graphql-session-controller.adapter-runtimes');

export interface AdapterRuntimes extends RequestGateRuntimes {
  /** Live streams of a session: ended when it is revoked (on any instance) or times out. */
  connections: Pick<ConnectionRegistry, 'open'>;
  /** Seats held by a long subscription are refreshed well within `leaseTtl`. */
  leaseTtlMs: number;
  /** The kill switch: `false` serves operations without governing them (directives are inert). */
  enabled: boolean;
}

/** A controller, as the adapters see it. */
export interface AdapterHost {
  [ADAPTER_RUNTIMES](): AdapterRuntimes;
}
