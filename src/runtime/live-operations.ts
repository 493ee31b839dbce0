/**
 * The operations streaming over this instance's governed sockets (docs/contract.md §12, "Release,
 * fail-closed, seats"): each one's iterator is wrapped so that ending it (the client's `complete`,
 * a socket gone however it went, a seat lost) takes effect at once, whatever the iterator
 * underneath is waiting for, and counted until the iterator underneath has really finished.
 *
 * Why (docs/design.md, "Why a socket's iterators are ended on close"): graphql-ws ends an
 * operation only through its iterator's `return()`, and an async generator suspended in an
 * `await` queues that call until its next `yield`. Before its close handler runs, graphql-ws waits
 * for those calls: an event stream with nothing to say held its socket, its touches and its seats
 * for ever.
 */

/** One operation's stream, as graphql-ws consumes it. */
export class LiveOperation<T> implements AsyncIterableIterator<T, undefined> {
  private state: 'open' | 'ended' | 'failed' = 'open';
  private failure: unknown;
  private innerDone = false;
  private readonly stopped: Promise<IteratorResult<T, undefined>>;
  private stop!: (result: IteratorResult<T, undefined>) => void;
  private abort!: (error: unknown) => void;

  constructor(
    private readonly inner: AsyncIterator<T>,
    private readonly onInnerFinished: () => void,
  ) {
    this.stopped = new Promise((resolve, reject) => {
      this.stop = resolve;
      this.abort = reject;
    });
    // Nobody may be waiting when it fails: the rejection is read by the next `next()`.
    this.stopped.catch(() => {});
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<T, undefined>> {
    if (this.state === 'failed') {
      // The error is delivered once; graphql-ws then ends the operation.
      this.state = 'ended';
      return Promise.reject(this.failure);
    }
    if (this.state === 'ended') return Promise.resolve({ value: undefined, done: true });
    const step = this.inner.next();
    step.then(
      (result) => {
        if (result.done) this.innerFinished();
      },
      () => this.innerFinished(),
    );
    // Whichever comes first: the iterator's next value, or the end decided here.
    return Promise.race([step as Promise<IteratorResult<T, undefined>>, this.stopped]);
  }

  /** Ends the stream at once; the iterator underneath is asked to end, and ends when it can. */
  async return(): Promise<IteratorResult<T, undefined>> {
    this.end();
    return { value: undefined, done: true };
  }

  async throw(error?: unknown): Promise<IteratorResult<T, undefined>> {
    this.end();
    throw error;
  }

  /** Ends the stream with `error`: a `next()` waiting now, or the next one, rejects with it. */
  fail(error: unknown): void {
    if (this.state !== 'open') return;
    this.state = 'failed';
    this.failure = error;
    this.abort(error);
    this.endInner();
  }

  /** Whether the stream is still open (not returned, failed or finished). */
  get open(): boolean {
    return this.state === 'open' && !this.innerDone;
  }

  private end(): void {
    if (this.state === 'open') this.state = 'ended';
    this.stop({ value: undefined, done: true });
    this.endInner();
  }

  private endInner(): void {
    if (this.innerDone) return;
    const ask = this.inner.return;
    if (typeof ask !== 'function') {
      this.innerFinished();
      return;
    }
    // Not awaited: a generator waiting for its next event answers only then.
    Promise.resolve()
      .then(() => ask.call(this.inner))
      .then(
        () => this.innerFinished(),
        () => this.innerFinished(),
      );
  }

  private innerFinished(): void {
    if (this.innerDone) return;
    this.innerDone = true;
    this.onInnerFinished();
  }
}

/** The count of operations whose iterators have not finished yet, on this instance. */
export class LiveOperations {
  private running = 0;

  /** Wraps an operation's iterator (see `LiveOperation`). */
  track<T>(iterable: AsyncIterable<T>): LiveOperation<T> {
    this.running++;
    return new LiveOperation(iterable[Symbol.asyncIterator](), () => this.running--);
  }

  /** Subscriptions whose iterator is still running here (a generator asked to end counts until it does). */
  get size(): number {
    return this.running;
  }
}
