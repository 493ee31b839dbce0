import test, { type ExecutionContext } from 'ava';
import type { Identity, StoreErrorEvent } from '../src/index.js';
import { interruptibleDatabase, outcome, serve, serveAlone, sleep } from './helpers/core.js';
import { recordingLogger } from './helpers/logger.js';
import { type ApolloSettings, failure, type RunningServer, type startTestServer } from './helpers/server.js';

/*
 * Issue 9, item 5: host code is host code. A hook that throws or rejects (sync or async) is
 * logged through a logger the host can give, never crashes the process, and never fails the
 * request it observes (README: "A throwing hook is logged and does not fail the request").
 * `identify`, `limitFor` and `isExempt` throwing are host errors, not store outages: a documented
 * code, `SESSION_HOST_ERROR` with HTTP 500, whatever `failMode` is, without the host's stack,
 * and `onStoreError` is not called.
 *
 * Names assumed until src/ has them: the option `logger` (`{ debug?, info?, warn, error }`,
 * default Apollo's logger, as given to the plugin at server start) and the code
 * `SESSION_HOST_ERROR`.
 */

type Logger = NonNullable<ApolloSettings['logger']>;
type Options = Omit<Parameters<typeof startTestServer>[0], 'database'> & { logger?: Logger };

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
process.on('unhandledRejection', onUnhandled);
test.after.always(() => process.off('unhandledRejection', onUnhandled));

/** Lines written to the console by anyone during the test (the library must use the logger instead). */
function watchConsole(t: ExecutionContext): string[] {
  const lines: string[] = [];
  const original = { warn: console.warn, error: console.error, log: console.log };
  for (const level of ['warn', 'error', 'log'] as const) {
    console[level] = (...parts: unknown[]) => {
      lines.push(parts.map(String).join(' '));
    };
  }
  t.teardown(() => Object.assign(console, original));
  return lines;
}

/**
 * Lets a rejection that nobody handles surface as 'unhandledRejection'. A duration: the assertion
 * after it is an absence, which no event announces.
 */
const settle = () => sleep(100);

let counter = 0;
/** A message no other code can produce, so finding it proves where it went. */
const marker = (what: string) => `host-bug-${what}-${process.pid}-${++counter}`;

function failing(mode: 'sync' | 'async', message: string): () => never | Promise<never> {
  return mode === 'sync'
    ? () => {
        throw new Error(message);
      }
    : async () => {
        await sleep(1); // a host function that fails a moment later, not synchronously
        throw new Error(message);
      };
}

// ---------------------------------------------------------------------------------------------
// Hooks
// ---------------------------------------------------------------------------------------------

type Hook = 'onAdmit' | 'onReject' | 'onRevoke' | 'onStoreError';

/** Makes the hook fire through the public API and checks the observed operation is unaffected. */
const trigger: Record<Hook, (t: ExecutionContext, s: RunningServer, down?: () => Promise<void>) => Promise<void>> = {
  async onAdmit(t, s) {
    t.is(
      await outcome(s.client('alice', 'admit-1').request('{ whoami }')),
      'ok',
      'the admitted request still succeeds',
    );
  },
  async onReject(t, s) {
    t.is(await outcome(s.client('alice', 'reject-1').request('{ whoami }')), 'ok');
    t.is(
      await outcome(s.client('alice', 'reject-2').request('{ whoami }')),
      'SESSION_LIMIT_EXCEEDED 403',
      'the refusal is the refusal, whatever the hook did',
    );
  },
  async onRevoke(t, s) {
    const session = await s.controller.openSession({ userId: 'alice', sessionKey: 'revoke-1' });
    const revoked = await s.controller.revoke(session.id, { reason: 'LOGOUT' });
    t.is(revoked?.revokedReason, 'LOGOUT', 'revoke() resolves with the revoked session');
    t.is(await outcome(s.client('alice', 'revoke-1').request('{ whoami }')), 'SESSION_REVOKED 401');
  },
  async onStoreError(t, s, down) {
    await down!();
    t.is(
      await outcome(s.client('bob', 'store-1').request('{ hello }')),
      'SESSION_STORE_UNAVAILABLE 503',
      'the outage is answered as an outage, whatever the hook did',
    );
  },
};

for (const hook of ['onAdmit', 'onReject', 'onRevoke', 'onStoreError'] as const) {
  for (const mode of ['async', 'sync'] as const) {
    test.serial(
      `${hook} that ${mode === 'async' ? 'rejects' : 'throws'}: no unhandled rejection, logged through the host's logger, the operation unaffected`,
      async (t) => {
        unhandled.length = 0;
        const consoleLines = watchConsole(t);
        const { logger, lines } = recordingLogger();
        const message = marker(hook);
        const options: Options = {
          syncInterval: 200,
          user: { maxSessions: 1 },
          logger,
          [hook]: failing(mode, message),
        };
        let down: (() => Promise<void>) | undefined;
        let s: RunningServer;
        if (hook === 'onStoreError') {
          const outage = await interruptibleDatabase(t);
          down = outage.down;
          s = await serve(t, { ...options, database: outage.database });
        } else {
          s = await serveAlone(t, options);
        }
        await trigger[hook](t, s, down);
        await settle();
        t.deepEqual(
          unhandled.map(String),
          [],
          `a ${mode} failure of ${hook} must not become an unhandled rejection (it crashes Node by default)`,
        );
        const logged = lines.filter((line) => line.includes(message));
        t.true(
          logged.length > 0,
          `the failure of ${hook} must reach the host's logger; it logged: ${JSON.stringify(lines)}`,
        );
        t.true(
          logged.some((line) => line.includes(hook)),
          `the log line must name the hook (${hook}): ${JSON.stringify(logged)}`,
        );
        t.deepEqual(
          consoleLines.filter((line) => line.includes(message)),
          [],
          'with a logger given, nothing about the failure goes to the console',
        );
      },
    );
  }
}

test.serial("without a logger option, a hook's failure goes to Apollo Server's logger", async (t) => {
  unhandled.length = 0;
  const consoleLines = watchConsole(t);
  const apollo = recordingLogger();
  const message = marker('apollo-logger');
  const s = await serveAlone(t, { onAdmit: failing('async', message) }, undefined, { logger: apollo.logger });
  t.is(await outcome(s.client('alice', 'apollo-1').request('{ whoami }')), 'ok');
  await settle();
  t.deepEqual(unhandled.map(String), []);
  t.true(
    apollo.lines.some((line) => line.includes(message) && line.includes('onAdmit')),
    `the failure must reach the logger Apollo Server was given; it got: ${JSON.stringify(apollo.lines)}`,
  );
  t.deepEqual(
    consoleLines.filter((line) => line.includes(message)),
    [],
    'not the console',
  );
});

// ---------------------------------------------------------------------------------------------
// identify, limitFor, isExempt
// ---------------------------------------------------------------------------------------------

type HostFunction = 'identify' | 'limitFor' | 'isExempt';

/** The host function under test fails for user `boom` only; everyone else is served normally. */
function hostOptions(fn: HostFunction, mode: 'sync' | 'async', message: string): Partial<Options> {
  const fail = failing(mode, message);
  switch (fn) {
    case 'identify':
      return { identify: (ctx) => (ctx.identity?.userId === 'boom' ? (fail() as unknown as Identity) : ctx.identity) };
    case 'limitFor':
      return { limitFor: (identity) => (identity.userId === 'boom' ? (fail() as unknown as number) : undefined) };
    case 'isExempt':
      // isExempt is typed synchronous: only a throwing one is tested.
      return { isExempt: (identity) => (identity.userId === 'boom' ? (fail() as unknown as boolean) : false) };
  }
}

const HOST_CASES: Array<[HostFunction, 'sync' | 'async']> = [
  ['identify', 'sync'],
  ['identify', 'async'],
  ['limitFor', 'sync'],
  ['limitFor', 'async'],
  ['isExempt', 'sync'],
];

for (const [fn, mode] of HOST_CASES) {
  for (const failMode of ['closed', 'open'] as const) {
    test.serial(
      `${fn} that ${mode === 'async' ? 'rejects' : 'throws'} (failMode '${failMode}'): SESSION_HOST_ERROR 500 without the host's stack, logged, not a store outage`,
      async (t) => {
        unhandled.length = 0;
        const { logger, lines } = recordingLogger();
        const storeErrors: StoreErrorEvent[] = [];
        const message = marker(fn);
        const options: Options = {
          failMode,
          user: { maxSessions: 5 },
          logger,
          onStoreError: (event) => storeErrors.push(event),
          ...hostOptions(fn, mode, message),
        };
        // Stack traces on, as on a development machine (NODE_ENV unset): none may reach the client.
        const s = await serveAlone(t, options, undefined, { includeStacktraceInErrorResponses: true });

        const refused = await failure(s.client('boom', 'boom-1').request('{ whoami }')).catch((error: Error) => ({
          code: `(request succeeded: ${error.message})`,
          status: 200,
          extensions: {},
          message: '',
        }));
        await settle();
        t.log(refused);
        t.is(
          refused.code,
          'SESSION_HOST_ERROR',
          `a failing ${fn} is a host error: not a store outage (503), not a pass (failMode open), not a bare 500`,
        );
        t.is(refused.status, 500);
        t.false('stacktrace' in refused.extensions, 'no stack trace in the response');
        t.notRegex(refused.message, /\n\s+at |\.ts:\d+|file:\/\//, 'the message carries no stack nor file path');
        t.deepEqual(storeErrors, [], 'onStoreError is not called: the store did not fail');
        t.true(
          lines.some((line) => line.includes(message)),
          `the host's error reaches the host's logger; it logged: ${JSON.stringify(lines)}`,
        );
        t.deepEqual(unhandled.map(String), []);
        t.is(await outcome(s.client('alice', 'fine-1').request('{ whoami }')), 'ok', 'other users are served normally');
      },
    );
  }
}

test.serial(
  'openSession with a failing limitFor throws SESSION_HOST_ERROR, not SESSION_STORE_UNAVAILABLE',
  async (t) => {
    unhandled.length = 0;
    const storeErrors: StoreErrorEvent[] = [];
    const { logger } = recordingLogger();
    const options: Options = {
      logger,
      onStoreError: (event) => storeErrors.push(event),
      ...hostOptions('limitFor', 'async', marker('login')),
    };
    const s = await serveAlone(t, options);
    const error = await t.throwsAsync(s.controller.openSession({ userId: 'boom', sessionKey: 'boom-login' }));
    t.like(
      error,
      { extensions: { code: 'SESSION_HOST_ERROR', http: { status: 500 } } } as object,
      'the login fails as a host error',
    );
    t.deepEqual(storeErrors, [], 'onStoreError is not called');
    await settle();
    t.deepEqual(unhandled.map(String), []);
  },
);
