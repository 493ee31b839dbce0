import net from 'node:net';

/**
 * A TCP proxy that stands between the controller and PostgreSQL so a test can take the database
 * away (close the listener and cut every open connection) and give it back on the same port,
 * exactly what a network outage or a database restart looks like to the pool.
 */
export class TcpProxy {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private boundPort = 0;
  /** When set, new connections are accepted and never answered: a database that hangs. */
  blackhole = false;

  /**
   * @param latencyMs delay added to every chunk, each way: a database across a network, which
   * widens the window in which a race between two admissions could slip through.
   */
  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
    private readonly latencyMs = 0,
  ) {}

  /** A proxy in front of the server a PostgreSQL URL names, already listening. */
  static async to(databaseUrl: string, latencyMs = 0): Promise<TcpProxy> {
    const url = new URL(databaseUrl);
    const proxy = new TcpProxy(url.hostname, Number(url.port || 5432), latencyMs);
    await proxy.open();
    return proxy;
  }

  /** The port clients connect to; stable across close/open. */
  get port(): number {
    return this.boundPort;
  }

  get isOpen(): boolean {
    return this.server !== undefined;
  }

  /** Starts listening: on a free port the first time, on the same port after `close()`. */
  async open(): Promise<void> {
    if (this.server) return;
    const server = net.createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.boundPort, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.boundPort = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  /** Refuses new connections and cuts every open one, both ways. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Rewrites a PostgreSQL URL so it goes through this proxy. */
  urlFor(databaseUrl: string): string {
    const url = new URL(databaseUrl);
    url.hostname = '127.0.0.1';
    url.port = String(this.boundPort);
    return url.toString();
  }

  private accept(client: net.Socket): void {
    if (this.blackhole) {
      this.sockets.add(client);
      client.on('error', () => client.destroy()).on('close', () => this.sockets.delete(client));
      client.resume();
      return;
    }
    const upstream = net.connect(this.targetPort, this.targetHost);
    this.sockets.add(client);
    this.sockets.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    this.forward(client, upstream);
    this.forward(upstream, client);
  }

  private forward(from: net.Socket, to: net.Socket): void {
    if (!this.latencyMs) {
      from.pipe(to);
      return;
    }
    // Timers of equal delay fire in the order they were set, so chunks keep their order.
    from.on('data', (chunk) => setTimeout(() => to.destroyed || to.write(chunk), this.latencyMs));
    from.on('end', () => setTimeout(() => to.destroyed || to.end(), this.latencyMs));
  }
}
