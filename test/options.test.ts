import test from 'ava';
import { SessionController } from '../src/controller.js';
import { SessionConfigError } from '../src/errors.js';
import { resolveOptions, type SessionControllerOptions } from '../src/options.js';

const identify = () => null;

/** Resolves options that are wrong on purpose (as a JavaScript caller could pass them). */
function resolveLoose(options: Record<string, unknown>) {
  return resolveOptions(options as unknown as SessionControllerOptions);
}

test('works by default: every default applied, durations in milliseconds', (t) => {
  const resolved = resolveOptions({ identify });
  t.deepEqual(resolved.database, { embedded: {} });
  t.is(resolved.migrate, true);
  t.is(resolved.identify, identify);
  t.is(resolved.appLimit, null);
  t.is(resolved.defaultUserLimit, null);
  t.is(resolved.onLimit, 'REJECT_NEW');
  t.is(resolved.limitFor, undefined);
  t.is(resolved.isExempt({ userId: 'u', sessionKey: 'k' }), false);
  t.is(resolved.isExempt({ userId: 'u', sessionKey: 'k', exempt: true }), true);
  t.is(resolved.isAdmin({ userId: 'u', sessionKey: 'k', groups: ['admin'] }), false);
  t.is(resolved.timeouts.idleTimeoutMs, 30 * 60_000);
  t.is(resolved.timeouts.absoluteTimeoutMs, null);
  t.is(resolved.leaseTtlMs, 5 * 60_000);
  t.is(resolved.failMode, 'closed');
  t.is(resolved.enabled, true);
  t.is(resolved.retentionMs, 30 * 86_400_000);
  t.is(resolved.touchIntervalMs, 30_000);
  t.is(resolved.cacheSize, 10_000);
  t.is(resolved.syncIntervalMs, 500);
  t.is(resolved.maxStalenessMs, 2_000);
  t.deepEqual(resolved.api, {
    maxCallsPerRequest: 10,
    maxConcurrentQueries: 3,
    maxConcurrentQueriesPerUser: 1,
    maxTotalCount: 10_000,
  });
  t.is(resolved.pruneIntervalMs, 3_600_000);
  t.true(resolved.preparedStatements, 'the hot statements are prepared unless told not to');
  for (const hook of [resolved.onAdmit, resolved.onReject, resolved.onRevoke]) {
    t.is(typeof hook, 'function');
  }
  t.is(resolved.onStoreError, undefined, 'no onStoreError: store errors are logged as warnings through the logger');
  t.is(resolved.logger, undefined, "no logger: Apollo Server's, once the plugin starts");
});

test('accepts every documented form of each option', (t) => {
  const onAdmit = () => {};
  const resolved = resolveOptions({
    identify,
    database: 'postgresql://app@db.internal:5432/app',
    migrate: false,
    app: { maxSessions: 0 },
    user: { maxSessions: Infinity, onLimit: 'EVICT_OLDEST' },
    idleTimeout: '45m',
    absoluteTimeout: 12 * 3_600_000,
    leaseTtl: '90s',
    failMode: 'open',
    enabled: false,
    retention: '7d',
    touchInterval: 250,
    cacheSize: 1,
    syncInterval: '2s',
    pruneInterval: '10m',
    onAdmit,
  });
  t.is(resolved.database, 'postgresql://app@db.internal:5432/app');
  t.is(resolved.createDatabase, false, 'a missing database is an error unless createDatabase says otherwise');
  t.is(resolved.migrate, false);
  t.is(resolved.appLimit, 0, 'a cap of 0 is a real cap (nobody), not "off"');
  t.is(resolved.defaultUserLimit, null, 'Infinity means unlimited');
  t.is(resolved.onLimit, 'EVICT_OLDEST');
  t.is(resolved.timeouts.idleTimeoutMs, 45 * 60_000);
  t.is(resolved.timeouts.absoluteTimeoutMs, 12 * 3_600_000);
  t.is(resolved.leaseTtlMs, 90_000);
  t.is(resolved.failMode, 'open');
  t.is(resolved.enabled, false);
  t.is(resolved.retentionMs, 7 * 86_400_000);
  t.is(resolved.touchIntervalMs, 250);
  t.is(resolved.cacheSize, 1);
  t.is(resolved.syncIntervalMs, 2_000);
  t.is(resolved.maxStalenessMs, 8_000, 'a long syncInterval moves the default staleness bound to 4 polls');
  t.is(resolveOptions({ identify, maxStaleness: '5s' }).maxStalenessMs, 5_000);
  t.deepEqual(resolveOptions({ identify, api: { maxCallsPerRequest: 50, maxConcurrentQueries: 1 } }).api, {
    maxCallsPerRequest: 50,
    maxConcurrentQueries: 1,
    maxConcurrentQueriesPerUser: 1,
    maxTotalCount: 10_000,
  });
  t.like(resolveOptions({ identify, api: { maxConcurrentQueriesPerUser: 3, maxTotalCount: 500 } }).api, {
    maxConcurrentQueriesPerUser: 3,
    maxTotalCount: 500,
  });
  t.is(resolved.pruneIntervalMs, 600_000);
  t.is(resolved.onAdmit, onAdmit);

  t.is(
    resolveOptions({ identify, idleTimeout: null }).timeouts.idleTimeoutMs,
    null,
    'null idleTimeout: never idle-expires',
  );
  t.is(resolveOptions({ identify, user: { maxSessions: null } }).defaultUserLimit, null);
  t.deepEqual(resolveOptions({ identify, database: { embedded: { dataDir: '/tmp/x' } } }).database, {
    embedded: { dataDir: '/tmp/x' },
  });
  t.true(resolveOptions({ identify, database: 'postgres://db/app', createDatabase: true }).createDatabase);
  t.false(resolveOptions({ identify, preparedStatements: false }).preparedStatements);
  for (const policy of ['REJECT_NEW', 'EVICT_OLDEST', 'LOG_ONLY'] as const) {
    t.is(resolveOptions({ identify, user: { onLimit: policy } }).onLimit, policy);
  }
});

/**
 * Each wrong option, the option name the message must carry, and a fragment of what it must say
 * is accepted. The value a user passed is echoed so they can find it.
 */
const mistakes: Array<[title: string, options: Record<string, unknown>, option: string, accepted: RegExp]> = [
  ['a missing identify', {}, 'identify', /a function/],
  ['an identify that is not a function', { identify: { userId: 'x' } }, 'identify', /a function/],
  [
    'a negative app cap',
    { identify, app: { maxSessions: -1 } },
    'app.maxSessions',
    /whole number >= 0.*null.*Infinity/,
  ],
  ['a negative user cap', { identify, user: { maxSessions: -3 } }, 'user.maxSessions', /whole number >= 0/],
  ['a fractional user cap', { identify, user: { maxSessions: 1.5 } }, 'user.maxSessions', /whole number >= 0/],
  ['a cap given as a string', { identify, user: { maxSessions: '2' } }, 'user.maxSessions', /whole number >= 0/],
  ['a NaN cap', { identify, app: { maxSessions: Number.NaN } }, 'app.maxSessions', /whole number >= 0/],
  ['an app cap given as a bare number', { identify, app: 100 }, 'app', /an object/],
  ['a user cap given as a bare number', { identify, user: 2 }, 'user', /an object/],
  [
    'an unknown policy',
    { identify, user: { onLimit: 'EVICT_NEWEST' } },
    'user.onLimit',
    /"REJECT_NEW", "EVICT_OLDEST", "LOG_ONLY"/,
  ],
  ['a policy in lower case', { identify, user: { onLimit: 'reject_new' } }, 'user.onLimit', /"REJECT_NEW"/],
  ['a malformed idle timeout', { identify, idleTimeout: '30 mins please' }, 'idleTimeout', /duration.*"30m".*or null/],
  ['a zero idle timeout', { identify, idleTimeout: 0 }, 'idleTimeout', /duration/],
  ['a negative absolute timeout', { identify, absoluteTimeout: -5 }, 'absoluteTimeout', /duration/],
  ['an absolute timeout of the wrong type', { identify, absoluteTimeout: true }, 'absoluteTimeout', /duration/],
  ['an infinite lease TTL', { identify, leaseTtl: Infinity }, 'leaseTtl', /duration/],
  ['a malformed touch interval', { identify, touchInterval: 'often' }, 'touchInterval', /duration/],
  ['a malformed sync interval', { identify, syncInterval: '' }, 'syncInterval', /duration/],
  ['a malformed prune interval', { identify, pruneInterval: '1 fortnight' }, 'pruneInterval', /duration/],
  ['a malformed retention', { identify, retention: 'forever' }, 'retention', /duration/],
  // `null` means "never" only where the option documents it; elsewhere it must not silently become the default.
  ['a null retention', { identify, retention: null }, 'retention', /duration/],
  ['a null lease TTL', { identify, leaseTtl: null }, 'leaseTtl', /duration/],
  ['a null touch interval', { identify, touchInterval: null }, 'touchInterval', /duration/],
  [
    'a touch interval as long as the idle timeout',
    { identify, idleTimeout: '30s', touchInterval: '30s' },
    'touchInterval',
    /shorter than idleTimeout \(30000 ms\)/,
  ],
  ['an unknown fail mode', { identify, failMode: 'half-open' }, 'failMode', /"closed", "open"/],
  ['a kill switch that is not a boolean', { identify, enabled: 'no' }, 'enabled', /true or false/],
  ['a migrate flag that is not a boolean', { identify, migrate: 1 }, 'migrate', /true or false/],
  ['a zero cache size', { identify, cacheSize: 0 }, 'cacheSize', /whole number >= 1/],
  ['a logger without error()', { identify, logger: { warn: () => {} } }, 'logger', /warn\(\) and error\(\)/],
  [
    'a staleness bound no longer than the sync interval',
    { identify, syncInterval: '1s', maxStaleness: '1s' },
    'maxStaleness',
    /longer than syncInterval \(1000 ms\)/,
  ],
  ['api bounds given as a bare number', { identify, api: 10 }, 'api', /an object/],
  [
    'a zero API call bound',
    { identify, api: { maxCallsPerRequest: 0 } },
    'api.maxCallsPerRequest',
    /whole number >= 1/,
  ],
  [
    'a fractional API concurrency',
    { identify, api: { maxConcurrentQueries: 1.5 } },
    'api.maxConcurrentQueries',
    /whole number >= 1/,
  ],
  [
    "a user's API share over the whole",
    { identify, api: { maxConcurrentQueries: 2, maxConcurrentQueriesPerUser: 3 } },
    'api.maxConcurrentQueriesPerUser',
    /from 1 to api.maxConcurrentQueries \(2\)/,
  ],
  ['a zero count cap', { identify, api: { maxTotalCount: 0 } }, 'api.maxTotalCount', /whole number >= 1/],
  ['a fractional cache size', { identify, cacheSize: 2.5 }, 'cacheSize', /whole number >= 1/],
  ['a database URL of another kind', { identify, database: 'mysql://db/app' }, 'database', /postgres:\/\/ URL/],
  [
    'a database of the wrong type',
    { identify, database: 5432 },
    'database',
    /postgres:\/\/ URL, a MikroORM instance or \{ embedded/,
  ],
  [
    'a preparedStatements flag that is not a boolean',
    { identify, preparedStatements: 'off' },
    'preparedStatements',
    /true or false/,
  ],
  [
    'a createDatabase flag that is not a boolean',
    { identify, database: 'postgres://db/app', createDatabase: 'yes' },
    'createDatabase',
    /true or false/,
  ],
  [
    'an empty data directory',
    { identify, database: { embedded: { dataDir: '' } } },
    'database.embedded.dataDir',
    /a directory path/,
  ],
  ['a limitFor that is a number', { identify, limitFor: 3 }, 'limitFor', /a function/],
  ['an isExempt that is a list', { identify, isExempt: ['staff'] }, 'isExempt', /a function/],
  ['an isAdmin that is a string', { identify, isAdmin: 'admin' }, 'isAdmin', /a function/],
  ['an onAdmit that is not a function', { identify, onAdmit: true }, 'onAdmit', /a function/],
  ['an onReject that is not a function', { identify, onReject: 'log' }, 'onReject', /a function/],
  ['an onRevoke that is not a function', { identify, onRevoke: {} }, 'onRevoke', /a function/],
  ['an onStoreError that is not a function', { identify, onStoreError: 1 }, 'onStoreError', /a function/],
];

for (const [title, options, option, accepted] of mistakes) {
  test(`rejects ${title}, naming "${option}" and what it accepts`, (t) => {
    const error = t.throws(() => resolveLoose(options), { instanceOf: SessionConfigError });
    t.true(error instanceof Error);
    t.true(error!.message.includes(`"${option}"`), error!.message);
    t.regex(error!.message, accepted);
  });
}

test('the default touch interval shrinks with a short idle timeout, so used sessions do not expire', (t) => {
  t.is(resolveOptions({ identify, idleTimeout: '10s' }).touchIntervalMs, 2_500);
  t.is(resolveOptions({ identify, idleTimeout: '1h' }).touchIntervalMs, 30_000);
  t.is(resolveOptions({ identify, idleTimeout: null }).touchIntervalMs, 30_000);
  t.is(
    resolveOptions({ identify, idleTimeout: null, touchInterval: '5m' }).touchIntervalMs,
    300_000,
    'no idle timeout: any interval',
  );
});

test('rejects options that are not an object', (t) => {
  for (const value of [undefined, null, 'identify']) {
    const error = t.throws(() => resolveOptions(value as never), { instanceOf: SessionConfigError });
    t.regex(error!.message, /"options".*an object/);
  }
});

test('an empty database URL (DATABASE_URL set but blank) counts as unset: the embedded database', (t) => {
  t.deepEqual(resolveOptions({ identify, database: '' }).database, { embedded: {} });
  t.deepEqual(resolveOptions({ identify, database: '  ' }).database, { embedded: {} });
  t.deepEqual(resolveOptions({ identify, database: process.env.GSC_TEST_NEVER_SET_VARIABLE }).database, {
    embedded: {},
  });
});

test('echoes the value that was wrong', (t) => {
  t.regex(t.throws(() => resolveLoose({ identify, user: { onLimit: 'EVICT_NEWEST' } }))!.message, /got "EVICT_NEWEST"/);
  t.regex(t.throws(() => resolveLoose({ identify, app: { maxSessions: -1 } }))!.message, /got -1/);
  t.regex(t.throws(() => resolveLoose({ identify, idleTimeout: '30 mins please' }))!.message, /got "30 mins please"/);
});

test('never echoes a database password', (t) => {
  const error = t.throws(() => resolveLoose({ identify, database: 'mysql://app:s3cret-pw@db/app' }));
  t.false(error!.message.includes('s3cret-pw'), error!.message);
  t.regex(error!.message, /"database"/);
});

test('SessionController.create validates before it touches any database', async (t) => {
  // A database that does not exist: if validation came second, this would hang or fail differently.
  const started = Date.now();
  const error = await t.throwsAsync(
    SessionController.create({
      database: 'postgres://nobody@127.0.0.1:1/none',
      identify,
      user: { maxSessions: -1 },
    }),
    { instanceOf: SessionConfigError },
  );
  t.regex(error!.message, /"user\.maxSessions"/);
  t.true(Date.now() - started < 1_000);
  await t.throwsAsync(SessionController.create({} as never), { instanceOf: SessionConfigError, message: /"identify"/ });
});
