import net from 'node:net';

/**
 * A TCP proxy between the code under test and a server (PostgreSQL, mostly) that can break the
 * link the ways a network or a database breaks it:
 *
 * - `close()` / `open()`: refuses new connections and cuts every open one, both ways, then listens
 *   again on the same port: an outage or a database restart as the pool sees it.
 * - `freeze()` / `thaw()`: stops forwarding both ways while every socket stays open (a hung switch,
 *   a frozen VM, a half-dead NAT). The client sees no error, no FIN and no RST: its writes succeed,
 *   its reads never complete, and TCP keepalive probes (answered by this process's kernel) keep the
 *   connection looking alive. While frozen, bytes wait in the kernel's buffers, new connections are
 *   accepted but not connected upstream, and a side that ends or fails is not told to the other
 *   side; `thaw()` does all of it, in order.
 * - `hold()` / `release()`: new connections are accepted and left unanswered (a slow network, or,
 *   never released, a database that hangs) while connections already made pass through untouched;
 *   `release()` connects the held ones. `close()` drops them.
 * - `latencyMs`: every chunk is delayed, each way, as across a network.
 */
export class FaultProxy {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  /** Sockets with a peer to copy to: the ones a thaw resumes (a held client has none yet). */
  private readonly forwarding = new Set<net.Socket>();
  private boundPort = 0;
  private frozen = false;
  private holding = false;
  /** What a frozen link would have done, in order: done by `thaw()`. */
  private deferred: Array<() => void> = [];
  /** Connections accepted while holding, each waiting to be connected upstream by `release()`. */
  private held: Array<() => void> = [];
  /** When the current freeze began (performance.now()), if frozen. */
  frozenAt: number | undefined;

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
  static async to(databaseUrl: string, latencyMs = 0): Promise<FaultProxy> {
    const url = new URL(databaseUrl);
    const proxy = new FaultProxy(url.hostname, Number(url.port || 5432), latencyMs);
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

  get isFrozen(): boolean {
    return this.frozen;
  }

  /** Connections accepted while holding and not yet released. */
  get heldCount(): number {
    return this.held.length;
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

  /** Refuses new connections and cuts every open or held one, both ways; ends a freeze. */
  async close(): Promise<void> {
    this.frozen = false;
    this.frozenAt = undefined;
    this.deferred = [];
    this.held = [];
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    this.forwarding.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
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
    for (const socket of this.forwarding) if (!socket.destroyed) socket.resume();
  }

  /** Leaves new connections unanswered until `release()`; open ones pass through. */
  hold(): void {
    this.holding = true;
  }

  /** Connects the held connections, and every later one. */
  release(): void {
    this.holding = false;
    const held = this.held;
    this.held = [];
    for (const connect of held) connect();
  }

  /** Runs `action` now, or at the thaw if the link is frozen. */
  private whenFlowing(action: () => void): void {
    if (this.frozen) this.deferred.push(action);
    else action();
  }

  private track(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => {
      this.sockets.delete(socket);
      this.forwarding.delete(socket);
    });
  }

  private accept(client: net.Socket): void {
    this.track(client);
    // No byte is read from the client until it has an upstream to go to.
    client.pause();
    let upstream: net.Socket | undefined;
    client.on('close', () => this.whenFlowing(() => upstream?.destroy()));
    const connect = () =>
      this.whenFlowing(() => {
        if (client.destroyed) return;
        const socket = net.connect(this.targetPort, this.targetHost);
        upstream = socket;
        this.track(socket);
        socket.on('close', () => this.whenFlowing(() => client.destroy()));
        this.forward(socket, client);
        this.forward(client, socket);
      });
    if (this.holding) this.held.push(connect);
    else connect();
  }

  /** Copies `from` to `to` with backpressure, each chunk after `latencyMs`, held while frozen. */
  private forward(from: net.Socket, to: net.Socket): void {
    this.forwarding.add(from);
    const later = (action: () => void) =>
      this.latencyMs ? setTimeout(() => this.whenFlowing(action), this.latencyMs) : this.whenFlowing(action);
    from.on('data', (chunk: Buffer) => {
      if (this.frozen) from.pause();
      later(() => {
        if (to.destroyed) return;
        if (!to.write(chunk)) {
          from.pause();
          to.once('drain', () => this.frozen || from.resume());
        }
      });
    });
    from.on('end', () => later(() => to.destroyed || to.end()));
    if (this.frozen) from.pause();
    else from.resume();
  }
}
