import { execFile } from 'node:child_process';
import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A certificate authority and a server certificate for 127.0.0.1/localhost, made with openssl at test time. */
export interface DrillCertificates {
  dir: string;
  /** The CA's certificate: what `sslrootcert` names. */
  caFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  /** Another CA's certificate, which did not sign the server's: a root that must not verify it. */
  otherCaFile: string;
}

async function newCa(dir: string, name: string): Promise<{ key: string; cert: string }> {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
    '-keyout',
    key,
    '-out',
    cert,
  ]);
  return { key, cert };
}

/**
 * Self-signed CA + server certificate (SAN IP:127.0.0.1, DNS:localhost), readable by the
 * `postgres` user that runs the drill clusters (the key 0600, as PostgreSQL demands). Deleted in
 * `t.teardown`.
 */
export async function makeCertificates(t: { teardown(fn: () => unknown): void }): Promise<DrillCertificates> {
  const dir = await mkdtemp(join(tmpdir(), 'gsc-tls-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const ca = await newCa(dir, 'gsc-drill-ca');
  const other = await newCa(dir, 'gsc-other-ca');
  const serverKeyFile = join(dir, 'server.key');
  const csr = join(dir, 'server.csr');
  const serverCertFile = join(dir, 'server.crt');
  const ext = join(dir, 'server.ext');
  await writeFile(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  await run('openssl', [
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=127.0.0.1',
    '-keyout',
    serverKeyFile,
    '-out',
    csr,
  ]);
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    ext,
    '-out',
    serverCertFile,
  ]);
  // The server runs as postgres: it must read its certificate and own its key.
  if (userInfo().uid === 0) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    await chown(dir, Number(stdout), Number(gid));
    for (const file of [serverKeyFile, serverCertFile, ca.cert]) await chown(file, Number(stdout), Number(gid));
  }
  await chmod(dir, 0o755);
  await chmod(serverKeyFile, 0o600);
  return { dir, caFile: ca.cert, serverCertFile, serverKeyFile, otherCaFile: other.cert };
}
