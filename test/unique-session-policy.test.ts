/** The pure `@uniqueSession` rules, without Apollo or a database. */
import test from 'ava';
import { resolveUniqueSessionConfig, uniqueSessionSdl } from '../src/directive/config.js';
import { SessionConfigError } from '../src/errors.js';
import { decideLease, type LeaseHolder, leaseScopeKey } from '../src/policy/lease.js';

const holders = (...ids: string[]): LeaseHolder[] =>
  ids.map((sessionId, i) => ({ sessionId, lastUsedAt: new Date(1_000 * i) }));

test('works by default: max 1, USER scope, REJECT_NEW', (t) => {
  t.deepEqual(resolveUniqueSessionConfig(undefined, 'Query.exam'), {
    max: 1,
    scope: 'USER',
    onLimit: 'REJECT_NEW',
    strict: false,
  });
  t.deepEqual(resolveUniqueSessionConfig({ scope: 'APP' }, 'Query.exam'), {
    max: 1,
    scope: 'APP',
    onLimit: 'REJECT_NEW',
    strict: false,
  });
});

test('rejects invalid arguments with a message naming the field', (t) => {
  for (const bad of [
    { max: 0 },
    { max: -1 },
    { max: 1.5 },
    { max: Number.NaN },
    { max: 2 ** 31 },
    { max: '2' },
    { scope: 'user' },
    { onLimit: 'QUEUE' },
    { other: 1 },
    'max',
  ]) {
    t.throws(
      () => resolveUniqueSessionConfig(bad, 'Query.exam'),
      { instanceOf: SessionConfigError, message: /^Invalid @uniqueSession on Query\.exam: / },
      JSON.stringify(bad),
    );
  }
});

test('below the limit, a caller gets a lease whatever the policy', (t) => {
  for (const policy of ['REJECT_NEW', 'EVICT_OLDEST', 'LOG_ONLY'] as const) {
    t.deepEqual(decideLease({ max: 2, policy, holders: holders('a') }), {
      outcome: 'GRANT',
      evict: [],
      overLimit: false,
    });
  }
});

test('at the limit: REJECT_NEW refuses, EVICT_OLDEST takes the least recently used seat, LOG_ONLY grants and reports', (t) => {
  const full = holders('oldest', 'newer');
  t.deepEqual(decideLease({ max: 2, policy: 'REJECT_NEW', holders: full }), { outcome: 'REJECT' });
  t.deepEqual(decideLease({ max: 2, policy: 'EVICT_OLDEST', holders: full }), {
    outcome: 'GRANT',
    evict: ['oldest'],
    overLimit: false,
  });
  t.deepEqual(decideLease({ max: 2, policy: 'LOG_ONLY', holders: full }), {
    outcome: 'GRANT',
    evict: [],
    overLimit: true,
  });
});

test('EVICT_OLDEST over the limit (max lowered, LOG_ONLY before) frees enough seats for the caller', (t) => {
  t.deepEqual(decideLease({ max: 1, policy: 'EVICT_OLDEST', holders: holders('a', 'b', 'c') }), {
    outcome: 'GRANT',
    evict: ['a', 'b', 'c'],
    overLimit: false,
  });
  t.deepEqual(decideLease({ max: 2, policy: 'EVICT_OLDEST', holders: holders('a', 'b', 'c') }).outcome, 'GRANT');
  t.deepEqual(
    (decideLease({ max: 2, policy: 'EVICT_OLDEST', holders: holders('a', 'b', 'c') }) as { evict: string[] }).evict,
    ['a', 'b'],
  );
});

test('scope keys: the user for USER, one key for the whole app', (t) => {
  t.is(leaseScopeKey('USER', 'alice'), 'alice');
  t.is(leaseScopeKey('APP', 'alice'), '*');
  t.is(leaseScopeKey('APP', 'bob'), '*');
});

test('the directive SDL spells every argument', (t) => {
  t.is(
    uniqueSessionSdl({ max: 3, scope: 'APP', onLimit: 'LOG_ONLY', strict: false }),
    '@uniqueSession(max: 3, scope: APP, onLimit: LOG_ONLY)',
  );
  t.is(
    uniqueSessionSdl({ max: 1, scope: 'USER', onLimit: 'REJECT_NEW', strict: true }),
    '@uniqueSession(max: 1, scope: USER, onLimit: REJECT_NEW, strict: true)',
  );
});
