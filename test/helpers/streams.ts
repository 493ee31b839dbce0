/** Reading a client's result stream (graphql-sse's `iterate`, or any async iterator) in the background. */

/** Every event as it comes, whether (and when) the stream completed, and the error it ended with. */
export function follow<T>(stream: AsyncIterableIterator<T>) {
  const events: T[] = [];
  const state = { completedAt: undefined as number | undefined, error: undefined as unknown };
  const done = (async () => {
    try {
      for await (const event of stream) events.push(event);
    } catch (error) {
      state.error = error;
    }
    state.completedAt = performance.now();
  })();
  return { events, state, done, stop: () => stream.return?.() };
}
