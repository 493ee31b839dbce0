/**
 * `useSessionControl(sessions)`: the envelop plugin (GraphQL Yoga, or any envelop server) that
 * governs requests exactly as the Apollo plugin does, through the same request gate
 * (src/request-gate.ts): every operation that carries an identity is checked before it executes,
 * a refusal is the operation's only error and its `extensions.http.status` (401/403/503) is the
 * response's status. Subscriptions (Yoga serves them over SSE) are checked when they start, hold
 * their `@uniqueSession` seats while they live, and end with the refusal as their last event when
 * the session is revoked on any instance (docs/contract.md §14). On Yoga it also keeps what it
 * governs out of the response cache and runs the gate on the cache's hits (cache-hints.ts,
 * cached-answers.ts).
 */
import type { Plugin } from '@envelop/core';
import {
  BREAK,
  type DocumentNode,
  type ExecutionResult,
  GraphQLError,
  type GraphQLSchema,
  getOperationAST,
  type OperationDefinitionNode,
  visit,
} from 'graphql';
import { ADAPTER_RUNTIMES, type AdapterHost, type AdapterRuntimes } from '../adapter-runtimes.js';
import { fragmentsOf } from '../api/cost.js';
import type { UniqueSessionConfig } from '../directive/config.js';
import { assertUniqueSessionEnforced, markSchemaDisabled } from '../directive/enforce.js';
import { unauthenticated } from '../errors.js';
import { isThenable } from '../hooks.js';
import { type RequestGate, requestGate } from '../request-gate.js';
import { getRequestSession } from '../request-session.js';
import type { Governed } from '../runtime/contracts.js';
import type { StoredSession } from '../store/rows.js';
import { governedRootFields } from '../websocket.js';
import { markGovernedNotCacheable } from './cache-hints.js';
import { governCachedAnswers, type YogaHooks } from './cached-answers.js';
import { governedStream, refusalFromCloseReason } from './live-stream.js';

type LeaseField = { field: string; config: UniqueSessionConfig };
type OnExecuteDoneArgs = { args: { contextValue: unknown }; result: unknown; setResult: (result: any) => void };
type StopWith = (result: ExecutionResult) => void;

/**
 * The envelop plugin of a controller. Put it before plugins that read `currentSession` in their
 * own hooks. Behind the kill switch (`enabled: false`) it governs nothing and the schema's
 * `@uniqueSession` fields resolve as if undecorated.
 */
export function useSessionControl(sessions: AdapterHost): Plugin & Partial<YogaHooks> {
  const runtimes = sessions[ADAPTER_RUNTIMES]();
  if (!runtimes.enabled) {
    return {
      onSchemaChange({ schema }) {
        markSchemaDisabled(schema);
        markGovernedNotCacheable(schema, false);
      },
    };
  }
  const gate = requestGate(runtimes);
  const streams = liveStreams(runtimes);
  // One hook object for every request (nothing allocated per request): an incremental result
  // (`@defer`/`@stream`) of a signed-in session stops at its revocation, like a subscription.
  const incremental = {
    onExecuteDone({ args, result, setResult }: OnExecuteDoneArgs) {
      if (!isAsyncIterable(result)) return;
      const session = getRequestSession(args.contextValue)?.session;
      if (session) setResult(streams.watched(result as AsyncIterable<ExecutionResult>, session, { hasNext: false }));
    },
  };
  return {
    ...governCachedAnswers(gate),
    onSchemaChange({ schema }) {
      // A @uniqueSession field nobody enforces is refused when the server is created.
      assertUniqueSessionEnforced(schema);
      markGovernedNotCacheable(schema, true);
    },
    onExecute({ args, setResultAndStopExecution }) {
      const governed = admit(gate, args.contextValue, args.document, args.operationName, setResultAndStopExecution);
      // Only a document that asks for @defer or @stream can answer incrementally: any other
      // leaves envelop no hook to run after it executes (the hot path pays for none).
      const after = asksIncremental(args.document) ? incremental : undefined;
      // A cached session settles here without a promise (the hot path).
      if (isThenable(governed)) return (governed as Promise<unknown>).then(() => after);
      return after;
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const started = async () => {
        const governed = await admit(
          gate,
          args.contextValue,
          args.document,
          args.operationName,
          setResultAndStopExecution,
        );
        if (!governed) return undefined;
        const operation = getOperationAST(args.document, args.operationName);
        return streams.start(args.schema, args.document, operation, governed, setResultAndStopExecution);
      };
      return started().then((stream) =>
        stream
          ? {
              onSubscribeResult({ result, setResult }) {
                setResult(stream.wrap(result) as typeof result);
              },
            }
          : undefined,
      );
    },
  };
}

/**
 * Runs the gate; a refusal (a `GraphQLError`) becomes the operation's result, so the server
 * answers with its status and nothing executes. Anything else is the server's to handle.
 */
function admit(
  gate: RequestGate,
  contextValue: unknown,
  document: DocumentNode,
  operationName: string | null | undefined,
  stop: StopWith,
): Governed | Promise<Governed | undefined> | undefined {
  try {
    const operation = getOperationAST(document, operationName ?? undefined);
    const governed = gate(contextValue as object, operation, document);
    // The refusal's closure only where a promise needs one: a cached session settles without it.
    return isThenable<Governed>(governed)
      ? (governed as Promise<Governed>).then(undefined, (error: unknown) => refuse(error, stop))
      : governed;
  } catch (error) {
    return refuse(error, stop);
  }
}

function refuse(error: unknown, stop: StopWith): undefined {
  if (!(error instanceof GraphQLError)) throw error;
  stop({ errors: [error] });
  return undefined;
}

/** Whether a document uses @defer or @stream; parsed documents are cached by the server, so is this. */
const incrementalDocuments = new WeakMap<DocumentNode, boolean>();
function asksIncremental(document: DocumentNode): boolean {
  let asks = incrementalDocuments.get(document);
  if (asks === undefined) {
    asks = false;
    visit(document, {
      Directive(node) {
        if (node.name.value === 'defer' || node.name.value === 'stream') {
          asks = true;
          return BREAK;
        }
        return undefined;
      },
    });
    incrementalDocuments.set(document, asks);
  }
  return asks;
}

/** Subscriptions of signed-in sessions: their seats and their end on revocation. */
function liveStreams(runtimes: AdapterRuntimes) {
  const acquireAll = (leases: LeaseField[], governed: Governed, session: StoredSession, strict: boolean) =>
    Promise.all(
      leases.map((lease) =>
        runtimes.leases.acquire(
          lease.field,
          strict ? { ...lease.config, strict: true } : lease.config,
          governed.identity!,
          session,
        ),
      ),
    );
  /** `source`, ended with the session's refusal as its last event (`extra` added to that event). */
  const watched = (
    source: AsyncIterable<ExecutionResult>,
    session: StoredSession,
    extra: Record<string, unknown>,
    ended: () => void = () => {},
  ) =>
    governedStream<ExecutionResult>(
      source,
      {
        watch: (end) => runtimes.connections.open(session, (_code, reason) => end(refusalFromCloseReason(reason))),
        ended,
      },
      (refusal) => ({ errors: [refusal], ...extra }),
    );
  return {
    watched,
    /**
     * Takes the subscription's seats before its stream starts (a refusal ends this subscription
     * only, as a field error would); returns what wraps its stream, or nothing for an anonymous one.
     */
    async start(
      schema: GraphQLSchema,
      document: DocumentNode,
      operation: OperationDefinitionNode | null | undefined,
      governed: Governed,
      stop: StopWith,
    ) {
      const leases = operation ? governedRootFields(schema, operation.selectionSet, fragmentsOf(document)) : [];
      if (leases.length && !governed.identity) {
        stop({ errors: [unauthenticated('This subscription requires a signed-in session.', false)] });
        return undefined;
      }
      const session = governed.session;
      // Anonymous, or let through by failMode 'open': nothing to watch.
      if (!session) return undefined;
      try {
        // One after the other, as on WebSocket: a refusal leaves the seats taken before it to expire.
        for (const lease of leases) await acquireAll([lease], governed, session, false);
      } catch (error) {
        if (!(error instanceof GraphQLError)) throw error;
        stop({ errors: [error] });
        return undefined;
      }
      const release = () => {
        for (const { field, config } of leases) void runtimes.leases.release(field, config, session).catch(() => {});
      };
      return {
        wrap(result: unknown): unknown {
          if (!isAsyncIterable(result)) {
            release();
            return result;
          }
          let refresh: NodeJS.Timeout | undefined;
          if (leases.length) {
            // A long subscription keeps its seats alive well within leaseTtl.
            refresh = setInterval(
              () => void acquireAll(leases, governed, session, true).catch(() => {}),
              Math.max(1_000, runtimes.leaseTtlMs / 3),
            );
            refresh.unref();
          }
          return watched(result as AsyncIterable<ExecutionResult>, session, {}, () => {
            clearInterval(refresh);
            release();
          });
        },
      };
    },
  };
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof (value as { [Symbol.asyncIterator]?: unknown } | null)?.[Symbol.asyncIterator] === 'function';
}
