import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Debian's haproxy binary (`apt-get install haproxy`; .ci/run installs it). */
const HAPROXY = '/usr/sbin/haproxy';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * A stable PostgreSQL endpoint as many deployments have one: HAProxy in TCP mode, its own process
 * on a port of its own, in front of a primary and a standby marked `backup`. Its health check
 * (`option pgsql-check`) only sees that a server answers, not whether it is a primary: when the
 * primary dies it sends clients to the standby, promoted or not (what a cluster manager's REST
 * check, e.g. Patroni's `/primary`, would fence). Ended in `t.teardown`.
 */
export async function startHaproxy(
  t: { teardown(fn: () => unknown): void },
  primary: { port: number },
  standby: { port: number },
): Promise<{ port: number; url(database: string): string }> {
  const dir = await mkdtemp(join(tmpdir(), 'gsc-haproxy-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const port = await freePort();
  const config = join(dir, 'haproxy.cfg');
  await writeFile(
    config,
    [
      'global',
      '  maxconn 500',
      'defaults',
      '  mode tcp',
      '  timeout connect 2s',
      '  timeout client 30m',
      '  timeout server 30m',
      'listen postgres',
      `  bind 127.0.0.1:${port}`,
      '  option pgsql-check user postgres',
      // A dead server is marked down within about 0.6 s and its clients' connections are cut.
      '  default-server inter 300ms fall 2 rise 2 on-marked-down shutdown-sessions',
      `  server primary 127.0.0.1:${primary.port} check`,
      `  server standby 127.0.0.1:${standby.port} check backup`,
      '',
    ].join('\n'),
  );
  // -db: foreground, no daemon; the drill owns this process and ends it by its pid.
  const child: ChildProcess = spawn(HAPROXY, ['-db', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk) => (stderr += chunk));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGTERM');
  });
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`haproxy exited: ${stderr}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) break;
    if (Date.now() > deadline) throw new Error(`haproxy not listening after 10 s: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { port, url: (database) => `postgres://postgres@127.0.0.1:${port}/${database}` };
}
