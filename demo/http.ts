/**
 * The demo's HTTP server: GraphQL at every path, as Apollo's standalone server does, except the
 * routes the demo serves itself (`GET /metrics`). Apollo's standalone server cannot share its
 * port with other routes, so this is the small part of it the demo needs: read the body, hand the
 * request to Apollo, write its answer; and drain open connections when the server stops.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ApolloServer, type BaseContext, HeaderMap } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';

/** A route of the demo's own: answers and returns true, or returns false to leave the request to GraphQL. */
export type Route = (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;

/** The most a request body may hold (Apollo's standalone server allows 50 MB; the demo needs little). */
const MAX_BODY_BYTES = 1024 * 1024;

export interface HttpOptions<TContext extends BaseContext> {
  port: number;
  host?: string;
  context: (args: { req: IncomingMessage; res: ServerResponse }) => Promise<TContext>;
  routes?: Route[];
}

/** Starts `server` on a new HTTP server; returns its URL and the server (e.g. for a WebSocket server beside it). */
export async function serveHttp<TContext extends BaseContext>(
  server: ApolloServer<TContext>,
  options: HttpOptions<TContext>,
): Promise<{ url: string; httpServer: Server }> {
  const httpServer = createServer((req, res) => {
    handle(server, options, req, res).catch((error: unknown) => {
      if (!res.headersSent) res.statusCode = 500;
      res.end();
      console.error('demo: request failed:', (error as Error)?.message ?? error);
    });
  });
  server.addPlugin(ApolloServerPluginDrainHttpServer({ httpServer }));
  await server.start();
  await new Promise<void>((resolve) => httpServer.listen({ port: options.port, host: options.host }, resolve));
  const { port } = httpServer.address() as AddressInfo;
  const host = !options.host || options.host === '0.0.0.0' || options.host === '::' ? 'localhost' : options.host;
  return { url: `http://${host}:${port}/`, httpServer };
}

async function handle<TContext extends BaseContext>(
  server: ApolloServer<TContext>,
  options: HttpOptions<TContext>,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  for (const route of options.routes ?? []) if (await route(req, res)) return;
  let body: unknown;
  try {
    body = await readBody(req);
  } catch (error) {
    res.statusCode = 400;
    res.setHeader('content-type', 'text/plain; charset=utf-8');
    res.end((error as Error).message);
    return;
  }
  const headers = new HeaderMap();
  for (const [key, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
  }
  const response = await server.executeHTTPGraphQLRequest({
    httpGraphQLRequest: {
      method: (req.method ?? 'GET').toUpperCase(),
      headers,
      search: new URL(req.url ?? '/', 'http://localhost').search,
      body,
    },
    context: () => options.context({ req, res }),
  });
  for (const [key, value] of response.headers) res.setHeader(key, value);
  res.statusCode = response.status ?? 200;
  if (response.body.kind === 'complete') {
    res.end(response.body.string);
    return;
  }
  for await (const chunk of response.body.asyncIterator) res.write(chunk);
  res.end();
}

/** The request body: parsed JSON for `application/json`, else the text (Apollo says what it accepts). */
async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new Error('request body too large');
    chunks.push(chunk as Buffer);
  }
  if (!size) return undefined;
  const text = Buffer.concat(chunks).toString('utf8');
  if (!/^application\/(.+\+)?json\b/i.test(req.headers['content-type'] ?? '')) return text;
  try {
    return JSON.parse(text);
  } catch {
    throw new Error('request body is not valid JSON');
  }
}
