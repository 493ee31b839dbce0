import test from 'ava';
import { SessionConfigError } from '../src/errors.js';
import { resolveOptions } from '../src/options.js';

const identify = () => null;

test('tombstoneTtl defaults to for ever (null) and takes a duration or null', (t) => {
  t.is(resolveOptions({ identify }).tombstoneTtlMs, null);
  t.is(resolveOptions({ identify, tombstoneTtl: null }).tombstoneTtlMs, null);
  t.is(resolveOptions({ identify, tombstoneTtl: '90d' }).tombstoneTtlMs, 90 * 24 * 3_600_000);
  for (const tombstoneTtl of [0, -1, 'soon', 'forever']) {
    t.throws(() => resolveOptions({ identify, tombstoneTtl: tombstoneTtl as never }), {
      instanceOf: SessionConfigError,
      message: /tombstoneTtl/,
    });
  }
});

test('feedDatabase is a postgres:// URL, false (poll only), or the database URL by default', (t) => {
  t.is(resolveOptions({ identify }).feedDatabase, undefined);
  t.is(resolveOptions({ identify, feedDatabase: false }).feedDatabase, false);
  t.is(resolveOptions({ identify, feedDatabase: 'postgres://db:5432/app' }).feedDatabase, 'postgres://db:5432/app');
  const error = t.throws(() => resolveOptions({ identify, feedDatabase: 'mysql://u:secret@db/app' }), {
    instanceOf: SessionConfigError,
    message: /feedDatabase/,
  });
  t.false(error?.message.includes('secret'), 'the password is not shown');
  t.throws(() => resolveOptions({ identify, feedDatabase: true as never }), { instanceOf: SessionConfigError });
});
