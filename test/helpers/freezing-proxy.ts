import net from 'node:net';

/**
 * A TCP proxy that can stall the link without closing it: `freeze()` stops forwarding in both
 * directions while every socket stays open (a hung switch, a frozen VM, a half-dead NAT), and
 * `thaw()` delivers what was held, in order, and forwards again. Unlike `TcpProxy.close()`, the
 * client sees no error, no FIN and no RST: its writes succeed, its reads never complete, and TCP
 * keepalive probes (answered by this process's kernel) keep the connection looking alive.
 *
 * While frozen, sockets are paused (bytes wait in the kernel's buffers), new connections are
 * accepted but not connected upstream until the thaw, and a side that ends or fails is not told
 * to the other side until the thaw either.
 */
export class FreezingProxy {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private boundPort = 0;
  private frozen = false;
  /** What a frozen link would have done, in order: done by `thaw()`. */
  private deferred: Array<() => void> = [];
  /** When the current freeze began (performance.now()), if frozen. */
  frozenAt: number | undefined;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  /** A proxy in front of the server a PostgreSQL URL names, already listening. */
  static async to(databaseUrl: string): Promise<FreezingProxy> {
    const url = new URL(databaseUrl);
    const proxy = new FreezingProxy(url.hostname, Number(url.port || 5432));
    await proxy.open();
    return proxy;
  }

  get port(): number {
    return this.boundPort;
  }

  get isFrozen(): boolean {
    return this.frozen;
  }

  /** Open client connections (each has an upstream twin once connected). */
  get connections(): number {
    return this.sockets.size;
  }

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

  /** Rewrites a PostgreSQL URL so that it goes through this proxy. */
  urlFor(databaseUrl: string): string {
    const url = new URL(databaseUrl);
    url.hostname = '127.0.0.1';
    url.port = String(this.boundPort);
    return url.toString();
  }

  /** Stops forwarding both ways; every socket stays open. */
  freeze(): void {
    if (this.frozen) return;
    this.frozen = true;
    this.frozenAt = performance.now();
    for (const socket of this.sockets) socket.pause();
  }

  /** Delivers what was held, in order, and forwards again. Idempotent. */
  thaw(): void {
    if (!this.frozen) return;
    this.frozen = false;
    this.frozenAt = undefined;
    const deferred = this.deferred;
    this.deferred = [];
    for (const action of deferred) action();
    for (const socket of this.sockets) if (!socket.destroyed) socket.resume();
  }

  /** Cuts every connection and stops listening (thawing first drops nothing silently). */
  async close(): Promise<void> {
    this.frozen = false;
    this.deferred = [];
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Runs `action` now, or at the thaw if the link is frozen. */
  private whenFlowing(action: () => void): void {
    if (this.frozen) this.deferred.push(action);
    else action();
  }

  private track(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    if (this.frozen) socket.pause();
  }

  private accept(client: net.Socket): void {
    this.track(client);
    let upstream: net.Socket | undefined;
    let clientGone = false;
    client.on('error', () => {});
    client.on('close', () => {
      clientGone = true;
      this.whenFlowing(() => upstream?.destroy());
    });
    this.whenFlowing(() => {
      if (clientGone) return;
      upstream = net.connect(this.targetPort, this.targetHost);
      this.track(upstream);
      upstream.on('error', () => {});
      upstream.on('close', () => this.whenFlowing(() => client.destroy()));
      this.forward(upstream, client);
    });
    this.forward(client, () => upstream);
  }

  /** Copies `from` to `to` with backpressure; while frozen, holds each chunk and the end. */
  private forward(from: net.Socket, target: net.Socket | (() => net.Socket | undefined)): void {
    const to = typeof target === 'function' ? target : () => target;
    from.on('data', (chunk: Buffer) => {
      if (this.frozen) from.pause();
      this.whenFlowing(() => {
        const destination = to();
        if (!destination || destination.destroyed) return;
        if (!destination.write(chunk)) {
          from.pause();
          destination.once('drain', () => this.frozen || from.resume());
        }
      });
    });
    from.on('end', () => this.whenFlowing(() => to()?.end()));
  }
}
