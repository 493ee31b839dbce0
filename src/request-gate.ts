/**
 * The one request check every server adapter runs before an operation executes (the Apollo
 * plugin, the envelop plugin): the session API's cost bound, then identify → check → admit through
 * the session runtime, then the request's session recorded on its context for resolvers and
 * `@uniqueSession`. Adapters differ only in how they hand a refusal to their server.
 */
import type { DocumentNode, OperationDefinitionNode } from 'graphql';
import { fragmentsOf, sessionApiCost } from './api/cost.js';
import { costLimitExceeded } from './errors.js';
import { isThenable } from './hooks.js';
import { setRequestSession } from './request-session.js';
import type { Governed, LeaseRuntime, SessionRuntime } from './runtime/contracts.js';

export interface RequestGateRuntimes {
  sessions: Pick<SessionRuntime, 'govern'>;
  leases: LeaseRuntime;
  /** `api.maxCallsPerRequest`. */
  maxApiCallsPerRequest: number;
}

/**
 * Governs one request: returns its `Governed` when memory settled it (the hot path allocates no
 * promise), a promise of it otherwise, and throws (or rejects with) the refusal's `GraphQLError`.
 * Adapters that keep `Governed` (live streams) read it from the result.
 */
export type RequestGate = (
  contextValue: object,
  operation: OperationDefinitionNode | null | undefined,
  document: DocumentNode,
) => Governed | Promise<Governed>;

export function requestGate({ sessions, leases, maxApiCallsPerRequest }: RequestGateRuntimes): RequestGate {
  // Servers hand the same parsed operation to every request with the same text (their document
  // caches): its session API cost is computed once.
  const costs = new WeakMap<object, number>();
  const costOf = (operation: OperationDefinitionNode, document: DocumentNode) => {
    let cost = costs.get(operation);
    if (cost === undefined) costs.set(operation, (cost = sessionApiCost(operation, fragmentsOf(document))));
    return cost;
  };
  const record = (contextValue: object, governed: Governed) => {
    setRequestSession(contextValue, { identity: governed.identity, session: governed.session, leases });
    return governed;
  };
  return (contextValue, operation, document) => {
    // Cheap (a walk of the root selections) and before any SQL: one caller cannot queue
    // thousands of store queries in front of everyone's logins.
    const cost = operation ? costOf(operation, document) : 0;
    if (cost > maxApiCallsPerRequest) throw costLimitExceeded(maxApiCallsPerRequest, cost);
    const governed = sessions.govern(contextValue);
    if (isThenable<Governed>(governed))
      return (governed as Promise<Governed>).then((settled) => record(contextValue, settled));
    return record(contextValue, governed);
  };
}
