/**
 * The demo's login throttling (docs/contract.md §7 and §15), with rate-limiter-flexible: every
 * sign-in attempt counts against the client's address (`DEMO_LOGIN_PER_IP` a minute), and every
 * failed one against the username (`DEMO_LOGIN_FAILURES_PER_USER` in 15 minutes; a successful
 * sign-in clears it). Over either, `login` fails with `RATE_LIMITED`, HTTP 429 and `Retry-After`.
 * On PostgreSQL the counts live in the demo's database (table `demo_login_throttle`), shared by
 * every instance; on the embedded database, which one process owns, in memory.
 */
import { createHash } from 'node:crypto';
import { GraphQLError } from 'graphql';
import pg from 'pg';
import {
  type IRateLimiterOptions,
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterPostgres,
  RateLimiterRes,
} from 'rate-limiter-flexible';

export interface ThrottleConfig {
  /** Sign-in attempts per client address per minute; `0`: no limit. */
  perIp: number;
  /** Failed sign-ins per username per 15 minutes; `0`: no limit. */
  failuresPerUser: number;
}

const IP_WINDOW_S = 60;
const USER_WINDOW_S = 15 * 60;
const TABLE = 'demo_login_throttle';

/** The error a throttled `login` fails with: the demo's own code, documented in demo/README.md. */
export function rateLimited(retryAfterMs: number): GraphQLError {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  // Apollo reads `http.headers` as a Map. Typed loosely: graphql-yoga (a dev dependency, for the
  // envelop plugin's tests) declares `http.headers` as a plain record in graphql's types.
  const extensions: Record<string, unknown> = {
    code: 'RATE_LIMITED',
    retryAfter: seconds,
    http: { status: 429, headers: new Map([['retry-after', String(seconds)]]) },
  };
  return new GraphQLError(`Too many sign-in attempts: try again in ${seconds} s.`, { extensions });
}

/** Usernames are whatever a client sends: only their digest is a key (bounded, nothing stored as typed). */
const userKey = (username: string) => createHash('sha256').update(username).digest('hex');

export class LoginThrottle {
  private constructor(
    private readonly config: ThrottleConfig,
    private readonly byIp: RateLimiterAbstract | null,
    private readonly failures: RateLimiterAbstract | null,
    private readonly pool: pg.Pool | null,
  ) {}

  static async create(config: ThrottleConfig, databaseUrl: string | undefined): Promise<LoginThrottle> {
    const pool = databaseUrl ? new pg.Pool({ connectionString: databaseUrl, max: 2 }) : null;
    try {
      const limiter = async (keyPrefix: string, points: number, duration: number) => {
        if (points === 0) return null;
        const options: IRateLimiterOptions = { keyPrefix, points, duration };
        if (!pool) return new RateLimiterMemory(options);
        // The table is created on first start (CREATE TABLE IF NOT EXISTS), before any request.
        return new Promise<RateLimiterAbstract>((resolve, reject) => {
          const store: RateLimiterPostgres = new RateLimiterPostgres(
            { ...options, storeClient: pool, tableName: TABLE },
            (error?: Error) => (error ? reject(error) : resolve(store)),
          );
        });
      };
      const byIp = await limiter('ip', config.perIp, IP_WINDOW_S);
      const failures = await limiter('user', config.failuresPerUser, USER_WINDOW_S);
      return new LoginThrottle(config, byIp, failures, pool);
    } catch (error) {
      await pool?.end().catch(() => {});
      throw error;
    }
  }

  /** Before the password is checked: counts the attempt, or throws `RATE_LIMITED`. */
  async attempt(username: string, ip: string | null): Promise<void> {
    if (this.failures) {
      const failed = await this.failures.get(userKey(username));
      if (failed && failed.consumedPoints >= this.config.failuresPerUser) throw rateLimited(failed.msBeforeNext);
    }
    if (this.byIp) {
      try {
        await this.byIp.consume(ip ?? 'unknown');
      } catch (error) {
        if (error instanceof RateLimiterRes) throw rateLimited(error.msBeforeNext);
        throw error;
      }
    }
  }

  /** A wrong password for `username`. */
  async failed(username: string): Promise<void> {
    await this.failures?.penalty(userKey(username), 1);
  }

  /** A successful sign-in: the username's failures are forgotten. */
  async succeeded(username: string): Promise<void> {
    await this.failures?.delete(userKey(username));
  }

  async close(): Promise<void> {
    await this.pool?.end();
  }
}
