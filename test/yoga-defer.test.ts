// `@defer`/`@stream` on Yoga (@graphql-yoga/plugin-defer-stream), governed by the envelop plugin
// (docs/contract.md §14): a session revoked while a deferred payload is pending gets no more
// payloads once the revocation reaches the instance, the refusal being its last one; a seat
// refused inside a deferred fragment is a field error in that payload. Read over SSE with fetch.
import { useDeferStream } from '@graphql-yoga/plugin-defer-stream';
import test, { type ExecutionContext } from 'ava';
import { createSchema } from 'graphql-yoga';
import { currentSession } from '../src/request-session.js';
import { newKey } from './helpers/api.js';
import { eventually } from './helpers/core.js';
import { createTestDatabase } from './helpers/database.js';
import type { TestContext } from './helpers/server.js';
import { startYogaServer, type YogaTestServer } from './helpers/yoga.js';

/** Resolves the pending `slow` fields when the test says so. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

async function yoga(t: ExecutionContext, slow: Promise<void>): Promise<YogaTestServer> {
  const db = await createTestDatabase();
  t.teardown(() => db.drop());
  const server = await startYogaServer(
    { database: db.option() },
    (controller) =>
      controller.transformSchema(
        createSchema<TestContext>({
          typeDefs: [
            controller.typeDefs,
            'type Query { hello: String! slow: String! exam: String @uniqueSession(max: 1) whoami: String }',
          ],
          resolvers: [
            controller.resolverMap,
            {
              Query: {
                hello: () => 'world',
                slow: async () => {
                  await slow;
                  return 'finally';
                },
                exam: (_: unknown, __: unknown, ctx: TestContext) => `exam for ${currentSession(ctx)?.userId}`,
                whoami: (_: unknown, __: unknown, ctx: TestContext) => currentSession(ctx)?.id ?? null,
              },
            },
          ],
        }),
      ),
    { plugins: [useDeferStream()] },
  );
  t.teardown(() => server.stop());
  return server;
}

interface Payload {
  data?: Record<string, unknown>;
  incremental?: Array<{
    data?: Record<string, unknown>;
    errors?: Array<{ path?: string[]; extensions?: Record<string, unknown> }>;
  }>;
  errors?: Array<{ extensions?: Record<string, unknown> }>;
  hasNext?: boolean;
}

/** Posts `query` asking for an event stream, and reads its `next` payloads as they come. */
async function streamed(server: YogaTestServer, headers: Record<string, string>, query: string) {
  const response = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...headers },
    body: JSON.stringify({ query }),
  });
  const payloads: Payload[] = [];
  const state = { completedAt: undefined as number | undefined };
  const decoder = new TextDecoder();
  const done = (async () => {
    let buffer = '';
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = /^data: (.+)$/m.exec(event)?.[1];
        if (/^event: next$/m.test(event) && data) payloads.push(JSON.parse(data) as Payload);
        if (/^event: complete$/m.test(event)) state.completedAt = performance.now();
        end = buffer.indexOf('\n\n');
      }
    }
  })();
  return { status: response.status, payloads, state, done };
}

test('a session revoked while a deferred payload is pending gets no more payloads: the refusal is the last', async (t) => {
  const slow = gate();
  const server = await yoga(t, slow.opened);
  const key = newKey();
  const { whoami: sessionId } = await server.client('alice', key).request<{ whoami: string }>('{ whoami }');
  const stream = await streamed(server, server.headers('alice', key), '{ hello ... @defer { slow } }');
  t.is(stream.status, 200);
  await eventually(async () => (stream.payloads.length >= 1 ? true : undefined), 30_000);
  t.like(stream.payloads[0], { data: { hello: 'world' }, hasNext: true });
  const revokedAt = performance.now();
  await server.controller.revoke(sessionId, { reason: 'ADMIN_REVOKED' });
  await eventually(async () => (stream.state.completedAt !== undefined ? true : undefined), 30_000);
  t.true(
    stream.state.completedAt! - revokedAt < 1_000,
    `ended ${Math.round(stream.state.completedAt! - revokedAt)} ms after`,
  );
  // The deferred field resolves after the revocation: nothing of it reaches the client.
  slow.open();
  await stream.done;
  t.is(stream.payloads.length, 2);
  t.like(stream.payloads[1], {
    errors: [{ extensions: { code: 'SESSION_REVOKED', reason: 'ADMIN_REVOKED' } }],
    hasNext: false,
  });
  t.notRegex(JSON.stringify(stream.payloads), /finally/);
});

test('a deferred fragment of a live session streams as usual; a seat refused inside it is a field error in that payload', async (t) => {
  const slow = gate();
  slow.open();
  const server = await yoga(t, slow.opened);
  t.deepEqual(await server.client('bob', newKey()).request('{ exam }'), { exam: 'exam for bob' });
  const other = newKey();
  const stream = await streamed(server, server.headers('bob', other), '{ hello ... @defer { slow exam } }');
  await stream.done;
  t.like(stream.payloads[0], { data: { hello: 'world' }, hasNext: true });
  const deferred = stream.payloads[1]?.incremental?.[0];
  t.deepEqual(deferred?.data, { slow: 'finally', exam: null });
  t.like(deferred?.errors?.[0], {
    path: ['exam'],
    extensions: { code: 'SESSION_LIMIT_EXCEEDED', level: 'VIEW', field: 'Query.exam' },
  });
  t.false(stream.payloads.at(-1)?.hasNext);
});
