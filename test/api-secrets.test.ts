/**
 * No session key, and no key digest, ever leaves through the session API: not in a response body
 * or header, an error, a hook's event, or a log line — on success, refusal, bad input and store failure.
 */
import test from 'ava';
import {
  admit,
  list,
  newKey,
  REMOVE_LIMIT,
  REVOKE,
  REVOKE_OTHERS,
  REVOKE_USER,
  RULES,
  SCHEMA_STYLES,
  SET_LIMIT,
  STATS,
  startApiServer,
} from './helpers/api.js';
import { failure } from './helpers/server.js';

/** Captures what the process logs while `run` runs. */
async function capturingLogs<T>(lines: string[], run: () => Promise<T>): Promise<T> {
  const methods = ['log', 'info', 'warn', 'error', 'debug'] as const;
  const saved = methods.map((m) => console[m]);
  const write = process.stderr.write.bind(process.stderr);
  const writeOut = process.stdout.write.bind(process.stdout);
  for (const m of methods) console[m] = (...args: unknown[]) => void lines.push(args.map(String).join(' '));
  process.stderr.write = ((chunk: unknown, ...rest: unknown[]) => {
    lines.push(String(chunk));
    return write(chunk as string, ...(rest as []));
  }) as typeof process.stderr.write;
  process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => {
    lines.push(String(chunk));
    return writeOut(chunk as string, ...(rest as []));
  }) as typeof process.stdout.write;
  try {
    return await run();
  } finally {
    methods.forEach((m, i) => {
      console[m] = saved[i];
    });
    process.stderr.write = write;
    process.stdout.write = writeOut;
  }
}

for (const style of SCHEMA_STYLES) {
  test.serial(`${style}: every operation, refusal and failure leaves no key or digest anywhere`, async (t) => {
    const logs: string[] = [];
    const events: string[] = [];
    const record = (event: unknown) => void events.push(JSON.stringify(event));
    const s = await startApiServer(t, style, {
      user: { maxSessions: 3 },
      onAdmit: record,
      onReject: record,
      onRevoke: record,
      // The default handler logs; keep it, and see the event too.
      onStoreError: (event) => {
        record({ operation: event.operation, message: event.error.message, stack: event.error.stack });
        console.warn(`[graphql-session-controller] store error during ${event.operation}: ${event.error.message}`);
      },
    });
    await capturingLogs(logs, async () => {
      const alice = s.as('alice', newKey('alice'));
      const alice2 = s.as('alice', newKey('alice'));
      const alice3 = s.as('alice', newKey('alice'));
      const bob = s.as('bob', newKey('bob'), ['staff']);
      const root = s.as('root', newKey('root'), ['admin']);
      const aliceId = await admit(alice);
      const alice2Id = await admit(alice2);
      await admit(alice3);
      const bobId = await admit(bob);
      await admit(root);
      // Refused admission, listing, foreign access, bad input.
      t.is((await failure(s.as('alice', newKey('alice')).request(STATS))).code, 'SESSION_LIMIT_EXCEEDED');
      await list(alice, { first: 1 });
      await list(root, { userId: 'alice', first: 2 });
      t.is((await failure(list(alice, { userId: 'bob' }))).code, 'FORBIDDEN');
      t.is((await failure(alice.request(REVOKE, { id: bobId }))).code, 'NOT_FOUND');
      t.is((await failure(list(alice, { after: 'nope' }))).code, 'BAD_USER_INPUT');
      t.is((await failure(alice.request(REVOKE, { id: 'nope' }))).code, 'BAD_USER_INPUT');
      // Every mutation.
      await alice.request(REVOKE, { id: alice2Id, reason: 'lost' });
      t.is((await failure(list(alice2))).code, 'SESSION_REVOKED');
      await alice.request(REVOKE_OTHERS);
      await root.request(STATS);
      await root.request(SET_LIMIT, { subjectType: 'GROUP', subject: 'staff', maxSessions: 5 });
      await root.request(RULES);
      await root.request(REMOVE_LIMIT, { subjectType: 'GROUP', subject: 'staff' });
      await root.request(REVOKE, { id: bobId, reason: 'admin' });
      await root.request(REVOKE_USER, { userId: 'alice', reason: 'all' });
      t.is((await failure(list(alice))).code, 'SESSION_REVOKED');
      t.is((await failure(s.as().request(STATS))).code, 'UNAUTHENTICATED');
      t.is(aliceId.length, 36);
      // The store goes away: the cached admin session passes the plugin, the API's query fails.
      await s.controller.close();
      const down = await failure(list(root));
      t.is(down.code, 'SESSION_STORE_UNAVAILABLE');
      t.is(down.status, 503);
    });
    t.true(events.length >= 8, 'the hooks saw the admissions and revocations');
    t.true(
      logs.some((line) => line.includes('store error during api.activeSessions')),
      'the store failure was logged',
    );
    // The scan itself works: it would have seen a digest.
    const [someSecret] = s.recorder.secrets;
    t.deepEqual(s.recorder.leaks([`x${someSecret}x`]), [someSecret]);
    t.is(s.recorder.secrets.size, 12);
    t.deepEqual(s.recorder.leaks([...logs, ...events]), []);
  });
}
