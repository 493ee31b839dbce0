// Finds the primary among the hosts of a URL, for every connection that writes or listens: it
// connects to a host, asks `pg_is_in_recovery()`, and leaves a standby for the next host, as
// libpq's `target_session_attrs=read-write` does (docs/design.md, "Several hosts, one primary").
import pg from 'pg';
import { SessionDatabaseError } from '../errors.js';
import { type ConnectionConfig, type HostAddress, hostLabel } from './connection-config.js';

/** node-postgres's words when a server answers the TLS request with "no". */
const NO_TLS = /does not support SSL/i;
/** Node's codes for a certificate that does not verify (chain, expiry, host name). */
const UNTRUSTED_CERT =
  /^(SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|ERR_TLS_CERT_ALTNAME_INVALID|CERT_UNTRUSTED|CERT_SIGNATURE_FAILURE)$/;

/** What one host answered, for the message when none would do. */
interface Attempt {
  host: HostAddress;
  outcome: 'standby' | 'read-only' | 'no-tls' | 'untrusted' | 'failed';
  error?: Error;
}

/**
 * Connects to the primary: the host that last was one first, then the others in the URL's
 * order. A host in recovery (a standby, or a standby being promoted) or read-only
 * (`default_transaction_read_only`) is left; a host that does not answer is skipped. With one host, that host must still be a primary: a standby given as
 * the database fails `create` with `DATABASE_NO_PRIMARY` instead of failing every admission.
 */
export class PrimaryLocator {
  private preferred = 0;

  constructor(private readonly config: ConnectionConfig) {}

  get hosts(): readonly HostAddress[] {
    return this.config.hosts;
  }

  /**
   * A connection on `host` turned out to be on a server where the fleet does not write (it says
   * "primary", but what is written elsewhere never shows there: an old primary restarted outside
   * the cluster manager): the next connection tries the following host first.
   */
  passOver(host: { host?: string; port?: number }): void {
    const index = this.config.hosts.findIndex((h) => h.host === host.host && h.port === host.port);
    if (index === this.preferred) this.preferred = (index + 1) % this.config.hosts.length;
  }

  /**
   * A connected client on the primary. `make` builds the client from settings (the pool's
   * dialect adds its type parsers and handlers); it is connected and checked here, and ended if
   * it is not the primary.
   */
  async connect(make: (settings: pg.ClientConfig) => pg.Client = (s) => new pg.Client(s)): Promise<pg.Client> {
    const hosts = this.config.hosts;
    const attempts: Attempt[] = [];
    for (let i = 0; i < hosts.length; i++) {
      const index = (this.preferred + i) % hosts.length;
      const host = hosts[index];
      const attempt = await this.tryHost(host, make);
      if ('client' in attempt) {
        this.preferred = index;
        return attempt.client;
      }
      attempts.push(attempt);
    }
    throw failure(attempts, this.config);
  }

  private async tryHost(
    host: HostAddress,
    make: (settings: pg.ClientConfig) => pg.Client,
  ): Promise<{ client: pg.Client } | Attempt> {
    let client: pg.Client;
    try {
      client = await open(make, this.config.forHost(host));
    } catch (error) {
      if (NO_TLS.test((error as Error).message) && !this.config.requiresTls) {
        // sslmode=prefer (libpq's): a server without TLS is used without it.
        try {
          client = await open(make, this.config.withoutTls(host));
        } catch (plainError) {
          return { host, outcome: 'failed', error: plainError as Error };
        }
      } else return { host, outcome: classify(error as Error), error: error as Error };
    }
    try {
      // libpq's read-write test is `transaction_read_only`; recovery says why, and is checked first.
      const { rows } = await client.query<{ standby: boolean; read_only: boolean }>(
        "select pg_is_in_recovery() as standby, current_setting('transaction_read_only') = 'on' as read_only",
      );
      const [state] = rows;
      if (state && !state.standby && !state.read_only) return { client };
      await end(client);
      return { host, outcome: state?.standby ? 'standby' : 'read-only' };
    } catch (error) {
      await end(client);
      return { host, outcome: 'failed', error: error as Error };
    }
  }
}

async function open(make: (settings: pg.ClientConfig) => pg.Client, settings: pg.ClientConfig): Promise<pg.Client> {
  const client = make(settings);
  // An 'error' with no listener would crash the process; `make` may add its own.
  if (!client.listenerCount('error')) client.on('error', () => {});
  try {
    await client.connect();
    return client;
  } catch (error) {
    await end(client);
    throw error;
  }
}

async function end(client: pg.Client): Promise<void> {
  await client.end().catch(() => {});
}

function classify(error: Error): Attempt['outcome'] {
  if (NO_TLS.test(error.message)) return 'no-tls';
  if (UNTRUSTED_CERT.test((error as { code?: string }).code ?? '')) return 'untrusted';
  return 'failed';
}

/** The error when no host would do: the reason that says most, and what each host answered. */
function failure(attempts: Attempt[], config: ConnectionConfig): Error {
  const each = attempts
    .map(({ host, outcome, error }) => {
      const what =
        outcome === 'standby'
          ? 'is a standby (in recovery)'
          : outcome === 'read-only'
            ? 'accepts no writes (transaction_read_only is on)'
            : outcome === 'no-tls'
              ? `offers no TLS, which ${config.sslMode ? `sslmode=${config.sslMode}` : 'the ssl option'} requires`
              : outcome === 'untrusted'
                ? `presented a certificate that does not verify (${error?.message})`
                : `did not answer (${error?.message})`;
      return `${hostLabel(host)} ${what}`;
    })
    .join('; ');
  if (attempts.some((a) => a.outcome === 'standby' || a.outcome === 'read-only')) {
    return new SessionDatabaseError(
      'DATABASE_NO_PRIMARY',
      `no PostgreSQL host accepts writes: ${each}. The library needs the primary; give its address, or every host of the cluster (postgresql://h1:5432,h2:5432/db).`,
    );
  }
  if (attempts.every((a) => a.outcome === 'no-tls')) {
    return new SessionDatabaseError('DATABASE_TLS_UNAVAILABLE', `TLS is required but unavailable: ${each}.`);
  }
  if (attempts.some((a) => a.outcome === 'untrusted')) {
    return new SessionDatabaseError('DATABASE_TLS_UNTRUSTED', `the server's TLS certificate was refused: ${each}.`);
  }
  const last = attempts.at(-1)?.error;
  // One host, or every host failing alike (a database that does not exist): the driver's own
  // error, which callers recognize by its SQLSTATE.
  const codes = new Set(attempts.map((a) => (a.error as { code?: string } | undefined)?.code));
  if (last && (attempts.length === 1 || (codes.size === 1 && !codes.has(undefined)))) return last;
  return new Error(`no PostgreSQL host answered: ${each}`, { cause: last });
}
