// One connection configuration for every PostgreSQL connection the library opens (the pool, the
// change feed's LISTEN connection, the CLI, replicas): a libpq-style URL, with one host or several
// (`postgresql://h1:5432,h2:5432/app?sslmode=verify-full&sslrootcert=/ca.crt`), read once into
// node-postgres settings per host, plus the `ssl` option (docs/contract.md §13).
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import type pg from 'pg';
import { parse } from 'pg-connection-string';

/** The `ssl` option: `true` (TLS, certificate verified against the system's CAs), `false` (no TLS), or node's TLS options. */
export type SslOption = boolean | TlsOptions;

/** One server a URL names. `host` is a name, an address, or a Unix socket directory. */
export interface HostAddress {
  host: string;
  port: number;
}

/** A URL's settings, the same for every connection: only the host differs between them. */
export interface ConnectionConfig {
  /** Every host of the URL, in its order (libpq's). */
  readonly hosts: readonly HostAddress[];
  /** The database name (the URL's path). */
  readonly database: string;
  /**
   * libpq's `sslmode` as the URL (or `PGSSLMODE`) gave it, else `undefined`. With `prefer`, a
   * server without TLS is used without it, as libpq does; every other mode that asks for TLS
   * makes a server without it an error.
   */
  readonly sslMode: string | undefined;
  /** Whether a connection must be encrypted (a server without TLS is an error, not a fallback). */
  readonly requiresTls: boolean;
  /** node-postgres settings for one of `hosts` (a new object each time). */
  forHost(host: HostAddress): pg.ClientConfig;
  /** The same settings without TLS: for `sslmode=prefer` against a server that offers none. */
  withoutTls(host: HostAddress): pg.ClientConfig;
  /** The same URL with another database name (e.g. `postgres`, to create this one). */
  withDatabase(database: string): ConnectionConfig;
}

/** How long a connection attempt may take when the URL gives no `connect_timeout`. */
const DEFAULT_CONNECT_TIMEOUT_MS = 3_000;
const DEFAULT_PORT = 5432;
const HOST_STAND_IN = 'gsc-host-stand-in';
const SCHEME = /^(postgres(?:ql)?:\/\/)([^/?#]*)(.*)$/s;

/** A URL the library cannot read: the message names what is wrong, never the password. */
export class ConnectionUrlError extends Error {
  override name = 'ConnectionUrlError';
}

/**
 * Reads a PostgreSQL URL once: its hosts (several, comma-separated, as libpq takes them), and
 * every parameter node-postgres understands, applied to each host alike. `sslmode` follows libpq
 * (`require`: encrypted, certificate not verified unless `sslrootcert` is given; `verify-ca`;
 * `verify-full`: certificate and host name verified), not node-postgres 8's own reading in which
 * `require` verifies like `verify-full`. An explicit `ssl` wins over the URL's TLS settings.
 */
export function connectionConfig(
  url: string,
  { ssl, connectTimeoutMs }: { ssl?: SslOption; connectTimeoutMs?: number } = {},
): ConnectionConfig {
  const match = SCHEME.exec(url);
  if (!match) throw new ConnectionUrlError('expected a postgres:// or postgresql:// URL');
  const [, scheme, authority, rest] = match;
  const at = authority.lastIndexOf('@');
  const userinfo = at >= 0 ? authority.slice(0, at + 1) : '';
  const hostList = at >= 0 ? authority.slice(at + 1) : authority;
  const entries = splitHosts(hostList);
  // One parse of the whole URL (first host): what every host shares. pg-connection-string reads
  // the files `sslrootcert`, `sslcert` and `sslkey` name, so a missing one fails here, at create.
  let shared: ReturnType<typeof parse>;
  try {
    // The hosts are read below, one by one: a stand-in here keeps their ports out of this parse.
    shared = parse(`${scheme}${userinfo}${HOST_STAND_IN}${withoutParam(rest, 'uselibpqcompat')}`, {
      useLibpqCompat: true,
    });
  } catch (error) {
    throw new ConnectionUrlError(`cannot read the URL: ${(error as Error).message}`, { cause: error });
  }
  const hosts = entries.map((entry) => hostOf(entry, shared));
  const sslMode = typeof shared.sslmode === 'string' ? shared.sslmode : process.env.PGSSLMODE || undefined;
  const settings = clientSettings(shared, connectTimeoutMs);
  const tls: pg.ClientConfig['ssl'] = ssl !== undefined ? ssl : sslMode === 'allow' ? false : settings.ssl;
  const config: ConnectionConfig = {
    hosts,
    database: shared.database ?? shared.user ?? 'postgres',
    sslMode,
    requiresTls: Boolean(tls) && !(ssl === undefined && sslMode === 'prefer'),
    forHost: (host) => ({ ...settings, host: host.host, port: host.port, ssl: tls }),
    withoutTls: (host) => ({ ...settings, host: host.host, port: host.port, ssl: false }),
    withDatabase: (database) =>
      connectionConfig(`${scheme}${userinfo}${hostList}${withDatabasePath(rest, database)}`, { ssl, connectTimeoutMs }),
  };
  return config;
}

/** `h1:5432,[::1]:5433,h3`: split on commas outside brackets. An empty list is libpq's default host. */
function splitHosts(list: string): string[] {
  const entries: string[] = [];
  let current = '';
  let bracket = false;
  for (const char of list) {
    if (char === '[') bracket = true;
    if (char === ']') bracket = false;
    if (char === ',' && !bracket) {
      entries.push(current);
      current = '';
    } else current += char;
  }
  entries.push(current);
  return entries;
}

function hostOf(entry: string, shared: ReturnType<typeof parse>): HostAddress {
  const bracketed = /^\[([^\]]+)\](?::(\d*))?$/.exec(entry);
  const plain = /^([^:]*)(?::(\d*))?$/.exec(entry);
  const [, name, port] = bracketed ?? plain ?? [];
  if (name === undefined) throw new ConnectionUrlError(`cannot read the host "${entry}"`);
  // A host given as a query parameter (`?host=/var/run/postgresql`) applies when the URL has none.
  const queryHost = typeof shared.host === 'string' && shared.host !== HOST_STAND_IN ? shared.host : '';
  const host = decodeURIComponent(name) || queryHost || 'localhost';
  // pg-connection-string gives the port of the query (`?port=`), else none (the stand-in has none).
  const portNumber = port ? Number(port) : Number(shared.port || DEFAULT_PORT);
  if (!Number.isInteger(portNumber) || portNumber < 1 || portNumber > 65_535) {
    throw new ConnectionUrlError(`invalid port in "${entry}"`);
  }
  return { host, port: portNumber };
}

/** What node-postgres takes, from what pg-connection-string read (query parameters as strings). */
function clientSettings(parsed: ReturnType<typeof parse>, connectTimeoutMs: number | undefined): pg.ClientConfig {
  const {
    host: _host,
    port: _port,
    sslmode: _sslmode,
    sslrootcert: _sslrootcert,
    sslcert: _sslcert,
    sslkey: _sslkey,
    target_session_attrs: _targetSessionAttrs,
    connect_timeout,
    keepalives,
    keepalives_idle,
    ssl,
    ...rest
  } = parsed;
  const settings: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(rest)) if (value !== null && value !== undefined) settings[key] = value;
  // libpq's connect_timeout is in seconds; node-postgres's JavaScript client reads milliseconds.
  const timeoutSeconds = Number(connect_timeout);
  settings.connectionTimeoutMillis =
    connect_timeout !== undefined && Number.isFinite(timeoutSeconds) && timeoutSeconds > 0
      ? timeoutSeconds * 1000
      : (connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
  settings.keepAlive = keepalives === undefined ? true : String(keepalives) !== '0';
  const idleSeconds = Number(keepalives_idle);
  if (keepalives_idle !== undefined && Number.isFinite(idleSeconds))
    settings.keepAliveInitialDelayMillis = idleSeconds * 1000;
  if (ssl !== undefined && typeof ssl !== 'string') settings.ssl = ssl;
  return settings as pg.ClientConfig;
}

function withoutParam(rest: string, name: string): string {
  const q = rest.indexOf('?');
  if (q < 0) return rest;
  const params = new URLSearchParams(rest.slice(q + 1));
  params.delete(name);
  const query = params.toString();
  return query ? `${rest.slice(0, q)}?${query}` : rest.slice(0, q);
}

function withDatabasePath(rest: string, database: string): string {
  const q = rest.indexOf('?');
  const query = q < 0 ? '' : rest.slice(q);
  return `/${encodeURIComponent(database)}${query}`;
}

/** `host:port`, for messages (never credentials). */
export function hostLabel(host: HostAddress): string {
  return host.host.includes(':') ? `[${host.host}]:${host.port}` : `${host.host}:${host.port}`;
}
