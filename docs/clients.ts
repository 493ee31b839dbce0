/**
 * The client code of docs/clients.md, region by region (`#region name` … `#endregion`): the
 * guide shows these regions verbatim (test/clients.test.ts checks it) and the same test runs them
 * against the demo server and a governed graphql-ws server.
 */
import { ApolloClient, ApolloLink, CombinedGraphQLErrors, gql, HttpLink, InMemoryCache } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition } from '@apollo/client/utilities';
import { fetchExchange, Client as UrqlClient } from '@urql/core';
import { ClientError } from 'graphql-request';
import { type ClientOptions, createClient } from 'graphql-ws';
import WebSocket from 'ws';

// #region retry
/** What graphql-ws does with the library's close codes (docs/live.md). */
export const sessionRetryPolicy = {
  // 4401: the session is over (revoked, expired, no valid token): the same token never works again.
  // 4403: a cap refused a new session: retry, with backoff, until another session ends.
  // 4503: the session store is unavailable: retry with backoff.
  shouldRetry: (event: unknown) => !(isCloseEvent(event) && event.code === 4401),
  // graphql-ws gives up after 5 attempts by default; a seat may take longer to free.
  retryAttempts: Number.POSITIVE_INFINITY,
  // Exponential backoff from 1 s, at most 30 s, with jitter so that clients do not come back together.
  retryWait: async (retries: number) => {
    const delay = Math.min(30_000, 1_000 * 2 ** retries) * (0.5 + Math.random() / 2);
    await new Promise((resolve) => setTimeout(resolve, delay));
  },
} satisfies Partial<ClientOptions>;

function isCloseEvent(event: unknown): event is { code: number; reason: string } {
  return typeof (event as { code?: unknown } | null)?.code === 'number';
}
// #endregion retry

// #region apollo-client
/** Apollo Client 4: queries and mutations over HTTP, subscriptions over graphql-ws. */
export function createApolloClient({ httpUrl, wsUrl, token }: { httpUrl: string; wsUrl: string; token: string }) {
  const http = new HttpLink({ uri: httpUrl, headers: { authorization: `Bearer ${token}` } });
  const ws = new GraphQLWsLink(
    createClient({
      url: wsUrl,
      webSocketImpl: WebSocket, // in Node; browsers have their own
      connectionParams: { authorization: `Bearer ${token}` },
      ...sessionRetryPolicy,
    }),
  );
  const isSubscription = ({ query }: ApolloLink.Operation) => {
    const definition = getMainDefinition(query);
    return definition.kind === 'OperationDefinition' && definition.operation === 'subscription';
  };
  return new ApolloClient({ link: ApolloLink.split(isSubscription, ws, http), cache: new InMemoryCache() });
}

/**
 * A governed field refused for want of a seat is a partial result (HTTP 200, the field null, an
 * error at its path): `errorPolicy: 'all'` keeps the rest of the data beside the error.
 */
export async function readExam(client: ApolloClient) {
  const { data, error } = await client.query<{ dashboard: string; exam: string | null }>({
    query: gql`{ dashboard exam }`,
    errorPolicy: 'all',
    fetchPolicy: 'network-only',
  });
  const code = CombinedGraphQLErrors.is(error) ? error.errors[0]?.extensions?.code : undefined;
  return { dashboard: data?.dashboard, exam: data?.exam ?? null, code }; // code: e.g. 'SESSION_LIMIT_EXCEEDED'
}
// #endregion apollo-client

// #region urql
/**
 * urql sends queries as GET by default; Apollo Server's CSRF prevention answers a GET without a
 * preflight-forcing header with 400. POST avoids it.
 */
export function createUrqlClient({ url, token }: { url: string; token: string }) {
  return new UrqlClient({
    url,
    exchanges: [fetchExchange],
    preferGetMethod: false,
    fetchOptions: () => ({ headers: { authorization: `Bearer ${token}` } }),
  });
}

export async function whoAmI(client: UrqlClient) {
  const { data, error } = await client.query<{ me: string | null }>('{ me }', {}).toPromise();
  return { me: data?.me ?? null, code: error?.graphQLErrors[0]?.extensions?.code };
}
// #endregion urql

// #region graphql-request
/**
 * graphql-request's ClientError copies the request, variables included, into its `message`: a
 * refused login's password would land in the log. Log the errors' codes and messages instead.
 */
export function describeRequestFailure(error: unknown): string {
  if (error instanceof ClientError) {
    const errors = error.response.errors ?? [];
    const described = errors.map((e) => `${e.extensions?.code ?? 'ERROR'}: ${e.message}`).join('; ');
    return `HTTP ${error.response.status}${described ? ` ${described}` : ''}`;
  }
  return error instanceof Error ? error.name : 'unknown error';
}
// #endregion graphql-request
