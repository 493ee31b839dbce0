import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { SessionConfigError, SessionController } from '../src/index.js';
import { connectionConfig } from '../src/store/connection-config.js';

test('a multi-host URL (libpq form) gives every host, in order, with its port or the default', (t) => {
  const config = connectionConfig(
    'postgresql://app:s%40cret@db1.example:5441,db2.example,[::1]:5443/sessions?target_session_attrs=read-write',
  );
  t.deepEqual(config.hosts, [
    { host: 'db1.example', port: 5441 },
    { host: 'db2.example', port: 5432 },
    { host: '::1', port: 5443 },
  ]);
  t.is(config.database, 'sessions');
  const second = config.forHost(config.hosts[1]);
  t.is(second.host, 'db2.example');
  t.is(second.port, 5432);
  t.is(second.user, 'app');
  t.is(second.password, 's@cret');
  t.is(second.database, 'sessions');
});

test('every parameter node-postgres understands reaches each host alike', (t) => {
  const config = connectionConfig(
    'postgres://u@h1:1,h2:2/db?application_name=gsc-api&options=-c%20statement_timeout%3D5s&connect_timeout=7&keepalives_idle=9',
  );
  for (const host of config.hosts) {
    const settings = config.forHost(host) as Record<string, unknown>;
    t.is(settings.application_name, 'gsc-api');
    t.is(settings.options, '-c statement_timeout=5s');
    t.is(settings.connectionTimeoutMillis, 7_000, 'connect_timeout is in seconds, node-postgres reads milliseconds');
    t.is(settings.keepAlive, true);
    t.is(settings.keepAliveInitialDelayMillis, 9_000);
  }
});

test('sslmode follows libpq: require encrypts without verifying, verify-full verifies against sslrootcert', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gsc-ssl-'));
  const ca = join(dir, 'root.crt');
  writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nnot a real one\n-----END CERTIFICATE-----\n');
  const required = connectionConfig('postgres://u@h/db?sslmode=require');
  t.deepEqual(required.forHost(required.hosts[0]).ssl, { rejectUnauthorized: false });
  t.true(required.requiresTls);
  const verified = connectionConfig(`postgres://u@h/db?sslmode=verify-full&sslrootcert=${encodeURIComponent(ca)}`);
  const ssl = verified.forHost(verified.hosts[0]).ssl as { ca?: string; rejectUnauthorized?: boolean };
  t.regex(String(ssl.ca), /not a real one/, 'the CA file is read once, here');
  t.not(ssl.rejectUnauthorized, false);
  const preferred = connectionConfig('postgres://u@h/db?sslmode=prefer');
  t.false(preferred.requiresTls, 'prefer falls back to no TLS, as libpq does');
  const disabled = connectionConfig('postgres://u@h/db?sslmode=disable');
  t.is(disabled.forHost(disabled.hosts[0]).ssl, false);
  t.is(connectionConfig('postgres://u@h/db').forHost({ host: 'h', port: 5432 }).ssl, undefined);
});

test('the ssl option wins over the URL for every host', (t) => {
  const ca = Buffer.from('a CA');
  const config = connectionConfig('postgres://u@h1,h2/db?sslmode=disable', { ssl: { ca } });
  for (const host of config.hosts) t.deepEqual(config.forHost(host).ssl, { ca });
  t.true(config.requiresTls);
});

test('withDatabase keeps hosts and parameters', (t) => {
  const config = connectionConfig('postgres://u@h1:1,h2:2/app?application_name=x').withDatabase('postgres');
  t.is(config.database, 'postgres');
  t.is(config.hosts.length, 2);
  t.is((config.forHost(config.hosts[1]) as Record<string, unknown>).application_name, 'x');
});

test('create refuses an unreadable URL or a missing certificate file with a SessionConfigError naming the option', async (t) => {
  const missing = await t.throwsAsync(
    SessionController.create({
      database: 'postgres://u@h/db?sslmode=verify-full&sslrootcert=/nonexistent/root.crt',
      identify: () => null,
    }),
  );
  t.true(missing instanceof SessionConfigError);
  t.regex(missing!.message, /^Invalid option "database": .*root\.crt/);
  const badPort = await t.throwsAsync(
    SessionController.create({ database: 'postgres://u@h1:99999,h2/db', identify: () => null }),
  );
  t.true(badPort instanceof SessionConfigError);
  t.regex(badPort!.message, /Invalid option "database": invalid port/);
  const feed = await t.throwsAsync(
    SessionController.create({ feedDatabase: 'postgres://u@h:x/db', identify: () => null }),
  );
  t.true(feed instanceof SessionConfigError);
  t.regex(feed!.message, /Invalid option "feedDatabase"/);
  const ssl = await t.throwsAsync(SessionController.create({ ssl: 'yes' as never, identify: () => null }));
  t.regex(ssl!.message, /Invalid option "ssl"/);
});
