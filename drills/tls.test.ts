/**
 * Drill for issue 19, item 1: every connection the library opens honours the URL's TLS settings.
 *
 * A PostgreSQL cluster of the drill's own with `ssl = on` and a certificate signed by a CA made
 * with openssl at test time. Its pg_hba.conf refuses unencrypted connections to the drill's
 * database (`hostnossl … reject`), so nothing of the library can reach it in clear; and
 * `pg_stat_ssl` joined with `pg_stat_activity` shows, for every backend the library holds (the
 * pool's and the LISTEN connection), that it is encrypted and carries the URL's
 * `application_name`. The command line connects the same way. A server without TLS, asked for
 * it, is a clear error at `create`; so is a certificate no given root signed.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';
import { SessionDatabaseError } from '../src/index.js';
import { SessionController } from '../src/controller.js';
import { eventually } from '../test/helpers/core.js';
import { gql, startDrillServer } from '../test/helpers/drill-app.js';
import { PgCluster } from '../test/helpers/pg-cluster.js';
import { makeCertificates } from '../test/helpers/tls-certs.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Backend {
  pid: number;
  application_name: string;
  ssl: boolean | null;
  query: string;
}

/** Every backend on the drill's database but the harness's own, with its TLS state. */
function backends(cluster: PgCluster, database: string): Promise<Backend[]> {
  return cluster.query<Backend>(
    `select a.pid, a.application_name, s.ssl, a.query
       from pg_stat_activity a left join pg_stat_ssl s on s.pid = a.pid
      where a.datname = $1 and a.pid <> pg_backend_pid()`,
    [database],
  );
}

async function tlsCluster(t: Parameters<typeof makeCertificates>[0]) {
  const certs = await makeCertificates(t);
  const cluster = await PgCluster.start(t, {
    settings: { ssl_cert_file: certs.serverCertFile, ssl_key_file: certs.serverKeyFile },
  });
  // pg_createcluster leaves `ssl` alone; it takes effect on a reload.
  await cluster.query('alter system set ssl = on');
  await cluster.query('select pg_reload_conf()');
  await eventually(async () => ((await cluster.query<{ ssl: string }>('show ssl'))[0].ssl === 'on' ? true : undefined), 10_000);
  const url = await cluster.createDatabase('drill');
  // Nothing reaches the drill's database unencrypted; the harness's own queries use `postgres`.
  await cluster.prependHba(['hostssl drill all 127.0.0.1/32 trust', 'hostnossl drill all 127.0.0.1/32 reject']);
  return { certs, cluster, url };
}

test.serial('verify-full with sslrootcert, and require: the pool, the LISTEN connection and the CLI all use TLS', async (t) => {
  const { certs, cluster, url } = await tlsCluster(t);
  for (const [mode, query] of [
    ['verify-full', `sslmode=verify-full&sslrootcert=${encodeURIComponent(certs.caFile)}&application_name=gsc-verify-full`],
    ['require', 'sslmode=require&application_name=gsc-require'],
  ] as const) {
    const database = `${url}?${query}`;
    const server = await startDrillServer(t, { database, syncInterval: 200 });
    // A few requests at once, so the pool holds more than one connection.
    const logins = await Promise.all(
      Array.from({ length: 5 }, (_, i) => gql(server.url, '{ whoami }', { as: { user: `u${i}`, key: `${mode}-key-${i}` } })),
    );
    t.deepEqual(
      logins.map((l) => l.outcome),
      ['ok', 'ok', 'ok', 'ok', 'ok'],
      `${mode}: admitted over TLS`,
    );
    const held = await eventually(async () => {
      const rows = await backends(cluster, 'drill');
      const listening = rows.some((r) => /listen gsc_changes/i.test(r.query));
      return listening && rows.length >= 2 ? rows : undefined;
    }, 10_000);
    t.log(`${mode}: ${held.length} backends held by the library: ${JSON.stringify(held.map((r) => [r.application_name, r.ssl]))}`);
    for (const backend of held) {
      t.true(backend.ssl, `${mode}: backend ${backend.pid} (${backend.query.slice(0, 30)}) is encrypted`);
      t.is(backend.application_name, `gsc-${mode}`, `${mode}: backend ${backend.pid} carries the URL's application_name`);
    }
    await server.stop();
  }

  // The command line: pg_hba refuses it unless it connects with TLS, as the URL says.
  const cli = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', 'stats', '--json'],
    {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: `${url}?sslmode=verify-full&sslrootcert=${encodeURIComponent(certs.caFile)}` },
    },
  ).catch((error: { code?: number; stderr?: string }) => ({ stdout: '', stderr: error.stderr ?? String(error) }));
  t.is(cli.stderr, '', 'the command line connects over TLS');
  t.regex(cli.stdout, /\{/, 'and prints the stats');
});

test.serial('a certificate that no given root signed, and TLS asked of a server without it, fail create with a code', async (t) => {
  const { certs, url } = await tlsCluster(t);
  const untrusted = await t.throwsAsync(
    SessionController.create({
      database: `${url}?sslmode=verify-full&sslrootcert=${encodeURIComponent(certs.otherCaFile)}`,
      identify: () => null,
    }),
  );
  t.true(untrusted instanceof SessionDatabaseError);
  t.is((untrusted as SessionDatabaseError).code, 'DATABASE_TLS_UNTRUSTED');
  t.log(untrusted!.message);

  const plain = await PgCluster.start(t);
  t.is((await plain.query<{ ssl: string }>('show ssl'))[0].ssl, 'off', 'a server without TLS');
  const plainUrl = await plain.createDatabase('drill');
  const started = Date.now();
  const refused = await t.throwsAsync(
    SessionController.create({ database: `${plainUrl}?sslmode=require`, identify: () => null }),
  );
  t.true(refused instanceof SessionDatabaseError, 'a SessionDatabaseError');
  t.is((refused as SessionDatabaseError).code, 'DATABASE_TLS_UNAVAILABLE');
  t.regex(refused!.message, /TLS is required but unavailable: 127\.0\.0\.1:\d+ offers no TLS, which sslmode=require requires/);
  t.true(Date.now() - started < 5_000, 'at once, not after retries');
  t.log(refused!.message);
  // sslmode=prefer (libpq's): a server without TLS is used without it.
  const preferred = await SessionController.create({ database: `${plainUrl}?sslmode=prefer`, identify: () => null });
  t.teardown(() => preferred.close());
  t.truthy(await preferred.openSession({ userId: 'p', sessionKey: 'prefer-key' }), 'prefer: admitted without TLS');
  await preferred.close();
  // The explicit option says the same for a URL that says nothing.
  const byOption = await t.throwsAsync(SessionController.create({ database: plainUrl, ssl: true, identify: () => null }));
  t.is((byOption as SessionDatabaseError).code, 'DATABASE_TLS_UNAVAILABLE');
});
