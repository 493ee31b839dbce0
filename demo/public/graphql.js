/**
 * The page's only ways to talk to the server, both public: POST /graphql, and graphql-ws
 * (protocol graphql-transport-ws) on the same path, with the browser client demo/app.ts serves
 * from the installed graphql-ws package (the `graphqlWs` global).
 */
export const ENDPOINT = '/graphql';

/** An error answer: the first GraphQL error's message, and its `extensions.code` when it has one. */
export class ApiError extends Error {
  constructor(message, code = null, extensions = {}) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.extensions = extensions;
  }
}

/** Codes that mean the caller's sign-in is over (docs/contract.md §4): the page returns to the sign-in form. */
export const SIGNED_OUT_CODES = new Set(['UNAUTHENTICATED', 'SESSION_REVOKED', 'SESSION_EXPIRED']);

function apiError(error) {
  const extensions = error?.extensions ?? {};
  return new ApiError(String(error?.message ?? 'The server refused the request.'), extensions.code ?? null, extensions);
}

/** Runs one operation; resolves with its data, rejects with an ApiError. */
export async function request(query, variables, token) {
  let response;
  try {
    response = await fetch(ENDPOINT, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json, application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify({ query, variables: variables ?? {} }),
    });
  } catch {
    throw new ApiError('Cannot reach the server. Is the demo still running?');
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`The server answered ${response.status} without a GraphQL response.`);
  }
  if (body?.errors?.length) throw apiError(body.errors[0]);
  if (!body?.data) throw new ApiError(`The server answered ${response.status} without data.`);
  return body.data;
}

/**
 * Subscribes over graphql-ws with the token in `connectionParams`, as the README tells clients
 * to. Reconnects after a lost connection (the server restarting, the network); a close the
 * server means (4401: the session is over) is final. Returns a function that stops it all.
 *
 * handlers: next(data), error(ApiError), connected(), closed({ code, reason }).
 */
export function subscribe(token, query, handlers) {
  const url = new URL(ENDPOINT, location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  const client = globalThis.graphqlWs.createClient({
    url: url.href,
    connectionParams: { authorization: `Bearer ${token}` },
    lazy: false,
    retryAttempts: Number.POSITIVE_INFINITY,
    retryWait: (retries) => new Promise((resolve) => setTimeout(resolve, Math.min(500 * 2 ** retries, 10_000))),
    on: {
      connected: () => handlers.connected(),
      closed: (event) => handlers.closed({ code: event?.code ?? 0, reason: String(event?.reason ?? '') }),
    },
    // A final close reaches `closed` above; nothing to print.
    onNonLazyError: () => {},
  });
  const unsubscribe = client.subscribe(
    { query },
    {
      next: (result) => {
        if (result.errors?.length) handlers.error(apiError(result.errors[0]));
        else handlers.next(result.data);
      },
      // GraphQL errors arrive as an array; a close event has been reported to `closed` already.
      error: (error) => {
        if (Array.isArray(error)) handlers.error(apiError(error[0]));
      },
      complete: () => {},
    },
  );
  return () => {
    unsubscribe();
    // dispose() waits for a connection still being made, and rejects with its close event when
    // the server closed it before acknowledging (a session that is over): that close has been
    // reported to `closed` already.
    Promise.resolve(client.dispose()).catch(() => {});
  };
}
