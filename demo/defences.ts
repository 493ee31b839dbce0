import type { ApolloServerPlugin, GraphQLRequestListener } from '@apollo/server';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import cors from 'cors';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import {
  type DocumentNode,
  type FragmentDefinitionNode,
  GraphQLError,
  type GraphQLFormattedError,
  Kind,
  type ParseOptions,
  type SelectionSetNode,
  type ValidationRule,
} from 'graphql';
import { type AllowedOrigins, originPolicy, SessionErrorCode } from '../src/index.js';

/**
 * The demo's defences against abusive operations, the ones a production GraphQL server should
 * have whatever its authentication (docs: demo/README.md, "Try it"):
 *
 * - graphql-armor's limits, checked before execution: a document of more than `maxTokens` tokens
 *   is refused while it is being parsed (so 100,000 aliases cost a few milliseconds, not seconds
 *   of parsing, validation and execution), then aliases, depth, directives and cost (validation
 *   rules). Apollo caches parsed and validated documents, so a repeated operation pays none of
 *   this again.
 * - One admission per operation: `oneLoginPerOperation` refuses an operation that selects the
 *   login mutation more than once (aliases, fragments) before any of it runs.
 * - Answers as production would: no stack traces, and unexpected errors without their message,
 *   unless `DEMO_DEBUG=1`; no "Did you mean …?" field suggestions.
 * - The same parse limit, validation rules and error formatting over HTTP and over WebSocket
 *   (`shared`, given to Apollo and to `controller.websocket`), and one origin policy for both:
 *   browsers may call the API from the demo's own page and from Apollo Sandbox only.
 */
export const DEMO_LIMITS = {
  /** Every operation the demo and Apollo Sandbox send is well under this (introspection: ~190). */
  maxTokens: 1_000,
  maxAliases: 15,
  /** The demo schema's deepest selection is 4 (`activeSessions.edges.node.id`); `__schema` is not counted. */
  maxDepth: 6,
  maxDirectives: 50,
  /**
   * graphql-armor's cost: objects 2, scalars 1, ×1.5 per level, × a literal `first`. The largest
   * page of the session API with every field (`first: 100`) costs ~6,100; two of them do not pass.
   */
  maxCost: 10_000,
} as const;

/**
 * graphql-armor's limits, as Apollo Server options. The token limit is graphql-js's own
 * `maxTokens` parse option, which graphql-armor's Envelop plugin uses too: graphql-armor's Apollo
 * variant re-parses in `parsingDidStart` and throws there, and Apollo Server 5 answers anything
 * thrown from that hook as HTTP 500, so every syntax error would become a 500. With the parse
 * option the refusal is what any syntax error is: 400 GRAPHQL_PARSE_FAILED, and the parser
 * stops at the limit instead of reading the whole document.
 */
export function armor(): {
  plugins: ApolloServerPlugin<any>[];
  validationRules: ValidationRule[];
  parseOptions: ParseOptions;
} {
  // Field suggestions are hidden by formatDemoError, which both transports apply.
  const protection = new ApolloArmor({
    maxTokens: { enabled: false },
    maxAliases: { n: DEMO_LIMITS.maxAliases },
    maxDepth: { n: DEMO_LIMITS.maxDepth },
    maxDirectives: { n: DEMO_LIMITS.maxDirectives },
    costLimit: { maxCost: DEMO_LIMITS.maxCost },
    blockFieldSuggestion: { enabled: false },
  }).protect();
  // graphql-armor's declarations name Apollo's CommonJS build; these are plain plugin objects either way.
  return {
    plugins: protection.plugins as unknown as ApolloServerPlugin<any>[],
    validationRules: protection.validationRules as ValidationRule[],
    parseOptions: { maxTokens: DEMO_LIMITS.maxTokens },
  };
}

/**
 * The defences both transports apply, built once: Apollo Server takes these three options, and
 * `controller.websocket` takes the same ones (docs/contract.md §12).
 */
export function sharedDefences(debug: boolean) {
  const { validationRules, parseOptions } = armor();
  return { parseOptions, validationRules, formatError: formatDemoError(debug) };
}

/**
 * Where browsers may call the API from: the demo's own page, and Apollo Sandbox, which the
 * landing page at /graphql embeds from Apollo's site. Clients that send no `Origin` (curl,
 * servers, graphql-ws in Node) are not browsers: origins do not concern them.
 */
export const DEMO_ORIGINS: AllowedOrigins = ['same-origin', 'https://sandbox.embed.apollographql.com'];

/**
 * The HTTP side of the same origin policy, answered explicitly: an allowed origin gets the CORS
 * headers (and a preflight its 204), any other none, so a browser on a foreign page can neither
 * send the JSON request nor read an answer.
 */
export function demoCors(): RequestHandler {
  const allowed = originPolicy(DEMO_ORIGINS);
  return cors((req, callback) => {
    const origin = req.headers.origin;
    callback(null, {
      origin: origin !== undefined && allowed(origin, req) ? origin : false,
      methods: ['GET', 'POST', 'OPTIONS'],
      allowedHeaders: ['content-type', 'authorization', 'apollo-require-preflight'],
      maxAge: 600,
    });
  });
}

/**
 * Refuses, before execution, an operation that would run the mutation field `field` more than
 * once: `mutation { a: login(…) b: login(…) }` would otherwise admit one session per alias, each
 * admission a transaction, and with an exempt user bypass every cap in one request. Response
 * keys are counted (aliases, fragments and inline fragments included); the same key twice is
 * one execution. `@skip`/`@include` are not evaluated: a conditional second login counts too.
 */
export function oneLoginPerOperation(field = 'login'): ApolloServerPlugin<any> {
  // One listener for every request, and nothing at all to do for queries: the hot path pays
  // one property read.
  const listener: GraphQLRequestListener<any> = {
    async didResolveOperation({ operation, document }) {
      if (operation?.operation !== 'mutation') return;
      const keys = new Set<string>();
      collectKeys(operation.selectionSet, field, fragmentsOf(document), keys, new Set());
      if (keys.size > 1) {
        throw new GraphQLError(
          `One ${field} per operation: this operation selects ${field} ${keys.size} times (${[...keys].slice(0, 5).join(', ')}${keys.size > 5 ? ', …' : ''}). Send each ${field} as its own operation.`,
          { extensions: { code: SessionErrorCode.BAD_USER_INPUT, field: `Mutation.${field}`, http: { status: 400 } } },
        );
      }
    },
  };
  return {
    async requestDidStart() {
      return listener;
    },
  };
}

function fragmentsOf(document: DocumentNode): Map<string, FragmentDefinitionNode> {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  return fragments;
}

/** The response keys under which the root selection set selects `field`. */
function collectKeys(
  selectionSet: SelectionSetNode,
  field: string,
  fragments: Map<string, FragmentDefinitionNode>,
  keys: Set<string>,
  visited: Set<string>,
): void {
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      if (selection.name.value === field) keys.add(selection.alias?.value ?? field);
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      collectKeys(selection.selectionSet, field, fragments, keys, visited);
    } else {
      const name = selection.name.value;
      const fragment = fragments.get(name);
      // Validation has refused cycles already; `visited` keeps a spread used twice from being walked twice.
      if (!fragment || visited.has(name)) continue;
      visited.add(name);
      collectKeys(fragment.selectionSet, field, fragments, keys, visited);
    }
  }
}

/**
 * Production answers: an unexpected error (`INTERNAL_SERVER_ERROR`) reaches the client without
 * its message, which may carry a driver's text or a file path; the server logs it. Every
 * expected error (the library's codes, Apollo's 4xx) keeps its message. With `debug`, nothing
 * is hidden.
 */
export function formatDemoError(debug: boolean) {
  return (given: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    // "Did you mean …?" maps the schema for a stranger; production answers without it.
    const formatted = SUGGESTION.test(given.message)
      ? { ...given, message: given.message.replace(SUGGESTION, '').trim() }
      : given;
    if (debug || formatted.extensions?.code !== 'INTERNAL_SERVER_ERROR') return formatted;
    const original = (error as { originalError?: unknown }).originalError ?? error;
    console.error(
      '[demo] unexpected error:',
      original instanceof Error ? (original.stack ?? original.message) : original,
    );
    return { message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } };
  };
}

const SUGGESTION = / ?Did you mean .+\?/;

/**
 * A body Express could not read (over the size limit, not JSON) answered as GraphQL clients
 * expect, with a code, instead of Express's HTML error page.
 */
export const bodyErrors: ErrorRequestHandler = (error, _req, res, next) => {
  const type = (error as { type?: unknown }).type;
  if (type === 'entity.too.large') {
    res.status(413).json({
      errors: [{ message: 'The request body is larger than 100 kB.', extensions: { code: 'PAYLOAD_TOO_LARGE' } }],
    });
  } else if (type === 'entity.parse.failed' || type === 'charset.unsupported' || type === 'encoding.unsupported') {
    res.status(400).json({
      errors: [{ message: 'The request body is not valid JSON.', extensions: { code: 'BAD_REQUEST' } }],
    });
  } else {
    next(error);
  }
};
