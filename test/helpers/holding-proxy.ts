import net from 'node:net';

/**
 * A TCP proxy in front of PostgreSQL that can hold new connections: while held, a client's
 * connect is accepted but left unanswered (as on a slow network) until `release()`, so a test can
 * act while a reconnect is half done. Connections already made pass through untouched.
 */
export class HoldingProxy {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private held: Array<() => void> = [];
  private holding = false;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async start(): Promise<number> {
    const server = net.createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.server = server;
    return (server.address() as net.AddressInfo).port;
  }

  /** Rewrites a PostgreSQL URL so that it goes through this proxy. */
  urlFor(databaseUrl: string): string {
    const url = new URL(databaseUrl);
    url.hostname = '127.0.0.1';
    url.port = String((this.server!.address() as net.AddressInfo).port);
    return url.toString();
  }

  hold(): void {
    this.holding = true;
  }

  /** Lets the held connections through, and every later one. */
  release(): void {
    this.holding = false;
    const held = this.held;
    this.held = [];
    for (const connect of held) connect();
  }

  get heldCount(): number {
    return this.held.length;
  }

  async stop(): Promise<void> {
    this.held = [];
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    this.sockets.add(client);
    client.on('error', () => client.destroy());
    client.on('close', () => this.sockets.delete(client));
    const connect = () => {
      if (client.destroyed) return;
      const upstream = net.connect(this.targetPort, this.targetHost);
      this.sockets.add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream);
      upstream.pipe(client);
    };
    if (this.holding) this.held.push(connect);
    else connect();
  }
}
