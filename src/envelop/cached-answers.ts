/**
 * Governs the answers Yoga's response cache (`@graphql-yoga/plugin-response-cache`) gives without
 * executing: a hit is served in Yoga's `onParams`, before the host's context is built and before
 * the envelop plugin's `onExecute`, so the request gate never ran for it. Here it runs for every
 * hit, so that a revoked or expired session gets its refusal, never a cached answer, its own
 * earlier one included (docs/contract.md §14). A hit costs what a miss costs the host: its context
 * built once. Misses and servers without a response cache pay one property read per result.
 */
import { type DocumentNode, GraphQLError, getOperationAST, Kind } from 'graphql';
import type { RequestGate } from '../request-gate.js';

/** How Yoga's response cache marks the results it served from its store. */
const SERVED_FROM_CACHE = Symbol.for('servedFromResponseCache');
const NO_DOCUMENT: DocumentNode = { kind: Kind.DOCUMENT, definitions: [] };

interface Params {
  query?: string;
  operationName?: string | null;
}
/** What of Yoga's `getEnveloped` this needs (typed here: graphql-yoga is an optional peer). */
type GetEnveloped = (context: object) => {
  parse(source: string): DocumentNode;
  contextFactory(): unknown;
};

/** Yoga's hooks (beyond envelop's) that the envelop plugin adds; other envelop servers never call them. */
export interface YogaHooks {
  onYogaInit(payload: { yoga: { getEnveloped: GetEnveloped } }): void;
  onRequest(payload: { request: Request }): void;
  onParams(payload: { params: Params; context: object }): void;
  onExecutionResult(payload: {
    result: unknown;
    setResult(result: unknown): void;
    request: Request;
    context: object;
  }): Promise<void> | undefined;
}

export function governCachedAnswers(gate: RequestGate): YogaHooks {
  let getEnveloped: GetEnveloped | undefined;
  const paramsOf = new WeakMap<object, Params>();
  return {
    onYogaInit({ yoga }) {
      getEnveloped = yoga.getEnveloped;
    },
    onRequest({ request }) {
      // The cache answers `If-None-Match` with a bodiless 304 ("use your copy") before anything
      // else runs: without the header the request goes the governed way, and a live session gets
      // its answer (a 200, from the cache) in place of the 304.
      if (request.headers.has('if-none-match')) request.headers.delete('if-none-match');
    },
    onParams({ params, context }) {
      paramsOf.set(context, params);
    },
    onExecutionResult({ result, setResult, request, context }) {
      if (!getEnveloped || !(result as { [SERVED_FROM_CACHE]?: boolean } | null)?.[SERVED_FROM_CACHE]) return undefined;
      const params = paramsOf.get(context) ?? {};
      // As Yoga prepares the context of a request it executes (its `handleParams`).
      Object.assign(context, (context as { request?: Request }).request === request ? { params } : { request, params });
      const enveloped = getEnveloped(context);
      return (async () => {
        try {
          const document = params.query ? enveloped.parse(params.query) : NO_DOCUMENT;
          const contextValue = (await enveloped.contextFactory()) as object;
          await gate(contextValue, getOperationAST(document, params.operationName ?? undefined), document);
        } catch (error) {
          if (!(error instanceof GraphQLError)) throw error;
          setResult({ errors: [error] });
        }
      })();
    },
  };
}
