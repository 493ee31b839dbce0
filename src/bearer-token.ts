/**
 * Reads a bearer token from graphql-ws `connectionParams` (or HTTP headers), whatever the case of
 * its key: clients send `authorization`, `Authorization` or `AUTHORIZATION` alike, and a token
 * sent under a key the host does not look at would silently give an anonymous socket.
 */

/**
 * The token of `{ authorization: 'Bearer <token>' }` (the key in any case, the scheme in any
 * case), or `null` if there is none. The value of an `Authorization` HTTP header works too.
 */
export function bearerToken(params: Readonly<Record<string, unknown>> | string | null | undefined): string | null {
  const value = typeof params === 'string' ? params : authorizationOf(params);
  if (typeof value !== 'string') return null;
  const match = /^\s*Bearer\s+(\S+)\s*$/i.exec(value);
  return match ? match[1] : null;
}

function authorizationOf(params: Readonly<Record<string, unknown>> | null | undefined): unknown {
  if (typeof params !== 'object' || params === null) return undefined;
  if ('authorization' in params) return params.authorization;
  for (const key of Object.keys(params)) {
    if (key.toLowerCase() === 'authorization') return params[key];
  }
  return undefined;
}
