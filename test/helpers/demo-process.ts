import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GraphQLClient } from 'graphql-request';

export interface DemoProcess {
  url: string;
  /** Where the demo serves `/metrics` (METRICS_PORT), or null when off. */
  metricsUrl: string | null;
  process: ChildProcess;
  output(): string;
  /** What the process wrote to stderr alone. */
  stderr(): string;
  /** Sends SIGTERM and waits for a clean exit; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts `demo/server.ts` as `npm start` does, on a free port, and waits until it serves. A
 * variable given as `undefined` is removed from the inherited environment (e.g. `NODE_ENV`,
 * which ava sets to `test`, to start the demo as a user's shell would). Unless given, the metrics
 * port is a free one (METRICS_PORT=0: tests run demos side by side) and login throttling is off
 * (DEMO_LOGIN_PER_IP=0, DEMO_LOGIN_FAILURES_PER_USER=0: tests sign in often from one address);
 * test/demo-throttle.test.ts tests it as `npm start` has it.
 */
export async function startDemoProcess(env: Record<string, string | undefined>): Promise<DemoProcess> {
  const dataDir = env.DEMO_DATA_DIR ?? (await mkdtemp(join(tmpdir(), 'gsc-demo-')));
  const child = spawn(process.execPath, ['--import', 'tsx', 'demo/server.ts'], {
    env: {
      ...process.env,
      PORT: '0',
      METRICS_PORT: '0',
      DEMO_LOGIN_PER_IP: '0',
      DEMO_LOGIN_FAILURES_PER_USER: '0',
      DEMO_SECRET: 'test-secret',
      DEMO_DATA_DIR: dataDir,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => {
    output += chunk;
    stderr += chunk;
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`demo did not start in 90s:\n${output}`)), 90_000);
    child.stdout!.on('data', () => {
      const match = /demo at (http:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`demo exited with ${code}:\n${output}`));
    });
  });
  return {
    url,
    metricsUrl: /metrics at (http:\/\/\S+)/.exec(output)?.[1] ?? null,
    process: child,
    output: () => output,
    stderr: () => stderr,
    stop: async () => {
      if (child.exitCode !== null) return child.exitCode;
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      const code = await exited;
      if (!env.DEMO_DATA_DIR) await rm(dataDir, { recursive: true, force: true });
      return code;
    },
  };
}

/** A client with the token; `partial` keeps data beside field errors instead of throwing. */
export function demoClient(url: string, token?: string, { partial = false } = {}): GraphQLClient {
  return new GraphQLClient(url, {
    ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
    ...(partial ? { errorPolicy: 'all' as const } : {}),
  });
}

export const LOGIN = /* GraphQL */ `
  mutation ($username: String!, $password: String!) {
    login(username: $username, password: $password) { token session { id userId current } }
  }
`;

export interface LoginResult {
  login: { token: string; session: { id: string; userId: string; current: boolean } };
}

export function login(url: string, username: string): Promise<LoginResult> {
  return demoClient(url).request<LoginResult>(LOGIN, { username, password: `${username}-password` });
}
