import { LIMIT_POLICIES, type LimitPolicy } from '../src/index.js';

/** The demo's environment (docs/contract.md §7), parsed and validated once: a bad value stops start-up with a clear message. */
export interface DemoConfig {
  databaseUrl: string | undefined;
  dataDir: string;
  port: number;
  appMaxSessions: number | null;
  userMaxSessions: number;
  onLimit: LimitPolicy;
  idleTimeoutSeconds: number;
  secret: string | undefined;
  sessionControl: boolean;
  /** DEMO_DEBUG: stack traces and unexpected errors' messages in responses (off: answers as production would). */
  debug: boolean;
  /** DEMO_LOGIN_PER_IP: sign-in attempts per client address per minute (0: no limit); demo/throttle.ts. */
  loginPerIp: number;
  /** DEMO_LOGIN_FAILURES_PER_USER: failed sign-ins per username per 15 minutes (0: no limit). */
  loginFailuresPerUser: number;
  /** METRICS_PORT: where `/metrics` is served, apart from the public port; `null` (`off`): not served. */
  metricsPort: number | null;
  /** METRICS_HOST: the address the metrics port listens on. */
  metricsHost: string;
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`Invalid ${name}=${JSON.stringify(raw)}: expected a whole number >= ${min}.`);
  }
  return value;
}

function flag(env: NodeJS.ProcessEnv, name: string): boolean {
  const raw = (env[name] ?? '').trim().toLowerCase();
  if (raw === '' || raw === '0' || raw === 'false' || raw === 'off') return false;
  if (raw === '1' || raw === 'true' || raw === 'on') return true;
  throw new Error(`Invalid ${name}=${JSON.stringify(env[name])}: expected 1 or 0 (true/false, on/off).`);
}

export function demoConfig(env: NodeJS.ProcessEnv = process.env): DemoConfig {
  const onLimit = (env.SESSION_ON_LIMIT || 'REJECT_NEW') as LimitPolicy;
  if (!LIMIT_POLICIES.includes(onLimit)) {
    throw new Error(
      `Invalid SESSION_ON_LIMIT=${JSON.stringify(env.SESSION_ON_LIMIT)}: expected one of ${LIMIT_POLICIES.join(', ')}.`,
    );
  }
  const control = (env.SESSION_CONTROL || 'on').toLowerCase();
  if (control !== 'on' && control !== 'off') {
    throw new Error(`Invalid SESSION_CONTROL=${JSON.stringify(env.SESSION_CONTROL)}: expected on or off.`);
  }
  const appMax = integer(env, 'SESSION_MAX_APP', 1000, 0);
  return {
    databaseUrl: env.DATABASE_URL || undefined,
    dataDir: env.DEMO_DATA_DIR || '.data',
    port: integer(env, 'PORT', 4000, 0),
    appMaxSessions: appMax === 0 ? null : appMax,
    userMaxSessions: integer(env, 'SESSION_MAX_PER_USER', 2, 0),
    onLimit,
    idleTimeoutSeconds: integer(env, 'SESSION_IDLE_TIMEOUT', 1800, 1),
    secret: env.DEMO_SECRET || undefined,
    sessionControl: control === 'on',
    debug: flag(env, 'DEMO_DEBUG'),
    loginPerIp: integer(env, 'DEMO_LOGIN_PER_IP', 30, 0),
    loginFailuresPerUser: integer(env, 'DEMO_LOGIN_FAILURES_PER_USER', 10, 0),
    metricsPort: (env.METRICS_PORT ?? '').trim().toLowerCase() === 'off' ? null : integer(env, 'METRICS_PORT', 9464, 0),
    metricsHost: env.METRICS_HOST || '127.0.0.1',
  };
}
