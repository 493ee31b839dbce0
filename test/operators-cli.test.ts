/**
 * The operator's command line (docs/contract.md §9, issue 12 item 5), run as a child process from
 * the compiled package (`dist`-like build, the shebang file the `bin` names) against a real
 * PostgreSQL database: its commands, tables and `--json` shapes, exit codes, prune progress, that
 * it never prints a key or a digest, and that its revocations reach a running server (the test
 * server, and the demo started as `npm start` starts it) within 1 s.
 * The command line works on PostgreSQL only: on the embedded database (no TEST_DATABASE_URL) only
 * the tests that need no database are registered (the bin, usage errors, no database given).
 */

import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import anyTest, { type Implementation, type TestFn } from 'ava';
import { SessionController } from '../src/controller.js';
import { hashSessionKey } from '../src/identity.js';
import { createTestDatabase, onPostgres, type TestDatabase } from './helpers/database.js';
import { demoClient, login, startDemoProcess } from './helpers/demo-process.js';
import { internalsOf } from './helpers/internals.js';
import { startTestServer } from './helpers/server.js';
import { connect } from './helpers/ws.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Inside the repository, so the build finds node_modules as an installed package would. */
const BUILD = join(ROOT, '.test-build', `cli-${randomBytes(4).toString('hex')}`);
const MAIN = join(BUILD, 'src', 'cli', 'main.js');

interface Context {
  db: TestDatabase;
  /** Every key handed out: neither it nor its digest may appear in any output. */
  secrets: Set<string>;
  outputs: string[];
}

const test = anyTest as TestFn<Context>;
/** The tests that need a PostgreSQL database: registered only where there is one. */
function withDatabase(title: string, fn: Implementation<[], Context>): void {
  if (onPostgres) test.serial(title, fn);
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** When the process exited (Date.now()). */
  exitedAt: number;
}

function cli(t: { context: Context }, args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(MAIN, args, {
      env: { ...process.env, DATABASE_URL: t.context.db?.url, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      t.context.outputs.push(stdout, stderr);
      resolve({ code, stdout, stderr, exitedAt: Date.now() });
    });
  });
}

test.before(async (t) => {
  await mkdir(BUILD, { recursive: true });
  // The package's own build (tsconfig.build.json), as `npm run build` makes dist/.
  await promisify(execFile)(
    process.execPath,
    [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json', '--outDir', BUILD],
    {
      cwd: ROOT,
    },
  );
  // npm makes a bin executable when it installs the package; the shebang does the rest.
  await chmod(MAIN, 0o755);
  if (onPostgres) t.context.db = await createTestDatabase();
  t.context.secrets = new Set();
  t.context.outputs = [];
});

test.after.always(async (t) => {
  await rm(BUILD, { recursive: true, force: true });
  await t.context.db?.drop();
});

/** A controller on the test database (the servers' side), closed with the test. */
async function controller(
  t: { context: Context; teardown(fn: () => unknown): void },
  options: Partial<Parameters<typeof SessionController.create>[0]> = {},
) {
  const c = await SessionController.create({ database: t.context.db.url!, identify: () => null, ...options });
  t.teardown(() => c.close());
  return c;
}

function key(t: { context: Context }, label: string): string {
  const k = `${label}-${randomBytes(8).toString('hex')}`;
  t.context.secrets.add(k);
  t.context.secrets.add(hashSessionKey(k));
  return k;
}

test.serial(
  'the build is the bin: a node shebang, --version, help; no command or a wrong one is a usage error (2)',
  async (t) => {
    t.true((await readFile(MAIN, 'utf8')).startsWith('#!/usr/bin/env node\n'));
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
      version: string;
      bin: Record<string, string>;
    };
    t.deepEqual(pkg.bin, { 'graphql-session-controller': './dist/src/cli/main.js', gsc: './dist/src/cli/main.js' });

    const version = await cli(t, ['--version']);
    t.is(version.code, 0);
    t.is(version.stdout.trim(), pkg.version);
    const help = await cli(t, ['--help']);
    t.is(help.code, 0);
    for (const command of ['migrate', 'sessions', 'stats', 'limits', 'prune'])
      t.regex(help.stdout, new RegExp(`\\n  ${command}\\b`));

    for (const args of [
      [],
      ['frobnicate'],
      ['sessions'],
      ['sessions', 'list', '--bogus'],
      ['limits', 'set', 'user', 'alice'],
    ]) {
      const run = await cli(t, args);
      t.is(run.code, 2, args.join(' '));
      t.regex(run.stderr, /Usage: graphql-session-controller/, args.join(' '));
    }
    const noDatabase = await cli(t, ['stats'], { DATABASE_URL: '' });
    t.is(noDatabase.code, 2);
    t.regex(noDatabase.stderr, /no database: pass --database <url> or set DATABASE_URL/);
    // Retention has no "never": the variable is refused by name, not silently left at its default.
    const forever = await cli(t, ['stats'], { DATABASE_URL: 'postgres://127.0.0.1:1/none', GSC_RETENTION: 'never' });
    t.is(forever.code, 1);
    t.regex(forever.stderr, /GSC_RETENTION cannot be "never": give a duration such as 90d/);
  },
);

// Found in a trial (issue 18 item 7): a password in a libpq key=value or JDBC-style connection
// string was echoed in the error. Every form a user may hand the command line, none printed.
test.serial('no connection string form has its password printed, whatever fails', async (t) => {
  const password = 'hunter2-Secret';
  const forms = [
    `host=db.example user=ops password=${password} dbname=app`,
    `host=db.example password='${password} with spaces' dbname=app`,
    `jdbc:postgresql://db.example:5432/app?user=ops&password=${password}`,
    `postgresql://db.example/app?user=ops&password=${password}&sslmode=require`,
    `postgres://ops:${password}@127.0.0.1:1/app`,
    `postgres://ops@127.0.0.1:1/app?password=${password}`,
    `postgres://ops:${password}@127.0.0.1:notaport/app`,
    `postgres://ops:${encodeURIComponent(`${password}/@:`)}@[::1/app`,
  ];
  // In turn through --database and DATABASE_URL: both reach the same connect.
  const runs = await Promise.all(
    forms.map((database, i) =>
      i % 2
        ? cli(t, ['--database', database, 'stats'], { DATABASE_URL: '' })
        : cli(t, ['sessions', 'list'], { DATABASE_URL: database }),
    ),
  );
  runs.forEach((run, i) => {
    t.is(run.code, 1, `${forms[i]}: ${run.stderr}`);
    t.regex(run.stderr, /cannot open the database/, forms[i]);
    t.false(`${run.stdout}${run.stderr}`.includes('hunter2'), `${forms[i]} printed: ${run.stderr}`);
  });
});

withDatabase(
  'migrate creates the tables, then finds nothing to do; --database works as DATABASE_URL does',
  async (t) => {
    const first = await cli(t, ['migrate']);
    t.is(first.code, 0, first.stderr);
    t.regex(first.stdout, /^Applied: Migration20261125164550_initial, Migration20261128100000_operators/);
    const again = await cli(t, ['--database', t.context.db.url!, 'migrate'], { DATABASE_URL: '' });
    t.is(again.code, 0);
    t.is(again.stdout, 'Nothing to apply: the database is up to date.\n');
  },
);

withDatabase(
  'sessions list: a table for people, --json for scripts; filters by user and status; --limit',
  async (t) => {
    const c = await controller(t);
    const firefox = 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0';
    const a1 = await c.openSession({ userId: 'alice', sessionKey: key(t, 'a1'), ip: '10.0.0.1', userAgent: firefox });
    const a2 = await c.openSession({ userId: 'alice', sessionKey: key(t, 'a2'), ip: '10.0.0.2' });
    const b1 = await c.openSession({ userId: 'bob', sessionKey: key(t, 'b1') });
    const b2 = await c.openSession({ userId: 'bob', sessionKey: key(t, 'b2') });
    await c.revoke(b1.id, { reason: 'ADMIN_REVOKED', note: 'lost laptop', by: 'root' });
    await internalsOf(c).sql.all("update gsc_session set last_seen_at = now() - interval '1 hour' where id = ?", [
      b2.id,
    ]);

    const active = await cli(t, ['sessions', 'list', '--json']);
    t.is(active.code, 0, active.stderr);
    const rows = JSON.parse(active.stdout) as Array<Record<string, unknown>>;
    t.deepEqual(
      rows.map((r) => r.id),
      [a2.id, a1.id],
    );
    t.deepEqual(Object.keys(rows[1]).sort(), [
      'createdAt',
      'device',
      'expiresAt',
      'id',
      'ipAddress',
      'lastSeenAt',
      'revokedAt',
      'revokedBy',
      'revokedNote',
      'revokedReason',
      'status',
      'userAgent',
      'userId',
    ]);
    t.like(rows[1], {
      userId: 'alice',
      status: 'ACTIVE',
      ipAddress: '10.0.0.1',
      device: { browser: 'Firefox 121', os: 'Linux', type: 'desktop' },
      revokedBy: null,
    });
    t.true(Number.isFinite(Date.parse(rows[1].createdAt as string)));

    const all = JSON.parse((await cli(t, ['sessions', 'list', '--status', 'ALL', '--json'])).stdout) as Array<
      Record<string, unknown>
    >;
    t.deepEqual(
      all.map((r) => [r.id, r.status]),
      [
        [b2.id, 'EXPIRED'],
        [b1.id, 'REVOKED'],
        [a2.id, 'ACTIVE'],
        [a1.id, 'ACTIVE'],
      ],
    );
    t.like(all[1], { revokedReason: 'ADMIN_REVOKED', revokedNote: 'lost laptop', revokedBy: 'root' });
    const bobs = JSON.parse(
      (await cli(t, ['sessions', 'list', '--user', 'bob', '--status', 'revoked', '--json'])).stdout,
    ) as Array<{ id: string }>;
    t.deepEqual(
      bobs.map((r) => r.id),
      [b1.id],
    );

    const table = await cli(t, ['sessions', 'list', '--status', 'ALL']);
    t.is(table.code, 0);
    const lines = table.stdout.trimEnd().split('\n');
    t.regex(lines[0], /^ID\s+USER\s+STATUS\s+CREATED\s+LAST SEEN\s+IP\s+DEVICE\s+REVOKED$/);
    t.is(lines.length, 5);
    t.regex(
      lines[2],
      new RegExp(`^${b1.id}\\s+bob\\s+REVOKED\\s.*ADMIN_REVOKED by root at \\S+ \\S+ \\(lost laptop\\)$`),
    );
    t.regex(lines[4], /desktop: Firefox 121, Linux/);

    const limited = await cli(t, ['sessions', 'list', '--status', 'ALL', '--limit', '3']);
    t.is(limited.stdout.trimEnd().split('\n').length, 5);
    t.regex(limited.stdout, /\(first 3 shown; more with --limit\)/);
    t.is((await cli(t, ['sessions', 'list', '--user', 'nobody'])).stdout, 'No sessions.\n');
    for (const args of [
      ['--limit', '0'],
      ['--limit', 'ten'],
      ['--status', 'GONE'],
      ['--user', ''],
    ]) {
      t.is((await cli(t, ['sessions', 'list', ...args])).code, 2, args.join(' '));
    }
  },
);

withDatabase(
  'stats and limits: numbers for people and JSON; limits set, list and remove, with 1 for a rule not found',
  async (t) => {
    const stats = await cli(t, ['stats', '--json']);
    t.is(stats.code, 0, stats.stderr);
    t.deepEqual(JSON.parse(stats.stdout), {
      activeSessions: 2,
      activeUsers: 1,
      revokedSessions: 1,
      expiredSessions: 1,
    });
    t.regex(
      (await cli(t, ['stats'])).stdout,
      /^active sessions\s+2\nactive users\s+1\nrevoked sessions\s+1\nexpired sessions\s+1\n$/,
    );

    t.is((await cli(t, ['limits', 'list'])).stdout, 'No limit rules.\n');
    t.is((await cli(t, ['limits', 'set', 'user', 'alice', '3'])).stdout, 'USER alice: 3 sessions.\n');
    t.is((await cli(t, ['limits', 'set', 'group', 'staff', 'unlimited'])).stdout, 'GROUP staff: unlimited.\n');
    t.is((await cli(t, ['limits', 'set', 'USER', 'alice', '1'])).stdout, 'USER alice: 1 session.\n');
    t.deepEqual(JSON.parse((await cli(t, ['limits', 'list', '--json'])).stdout), [
      { subjectType: 'USER', subject: 'alice', maxSessions: 1 },
      { subjectType: 'GROUP', subject: 'staff', maxSessions: null },
    ]);
    t.regex(
      (await cli(t, ['limits', 'list'])).stdout,
      /^TYPE\s+SUBJECT\s+MAX SESSIONS\nUSER\s+alice\s+1\nGROUP\s+staff\s+unlimited\n$/,
    );
    // The rule is the store's: the next admission on any server follows it.
    const c = await controller(t);
    const refused = await t.throwsAsync(c.openSession({ userId: 'alice', sessionKey: key(t, 'a3') }));
    t.is((refused as unknown as { extensions: { code: string } }).extensions.code, 'SESSION_LIMIT_EXCEEDED');

    const removed = await cli(t, ['limits', 'remove', 'user', 'alice']);
    t.is(removed.code, 0);
    t.is(removed.stdout, 'Removed the rule for USER alice.\n');
    const missing = await cli(t, ['limits', 'remove', 'user', 'alice']);
    t.is(missing.code, 1);
    t.is(missing.stderr, 'No rule for USER alice.\n');
    for (const args of [
      ['set', 'team', 'x', '3'],
      ['set', 'user', 'x', '-1'],
      ['set', 'user', 'x', '2.5'],
      ['remove', 'user'],
    ]) {
      t.is((await cli(t, ['limits', ...args])).code, 2, args.join(' '));
    }
    await cli(t, ['limits', 'remove', 'group', 'staff']);
  },
);

withDatabase(
  'a revocation by the command line reaches a running server within 1 s (through NOTIFY, not the poll)',
  async (t) => {
    // A poll every 10 s: only the change feed's NOTIFY can tell the server in time.
    const server = await startTestServer({
      database: t.context.db.url!,
      syncInterval: '10s',
      maxStaleness: '60s',
      migrate: false,
    });
    t.teardown(() => server.stop());
    const aliceKey = key(t, 'live-alice');
    const bobKeys = [key(t, 'live-bob-1'), key(t, 'live-bob-2')];
    const alice = server.client('carol', aliceKey);
    const bobs = bobKeys.map((k) => server.client('dave', k));
    // Served once, so the server's memory knows them as active.
    t.is((await alice.request<{ hello: string }>('{ hello }')).hello, 'world');
    for (const bob of bobs) await bob.request('{ hello }');
    const aliceId = (await internalsOf(server.controller).store.reads.ownerOfKey(hashSessionKey(aliceKey)))!.id;

    const refusedAfter = async (client: typeof alice, exitedAt: number): Promise<number> => {
      for (;;) {
        const outcome = await client.request('{ hello }').then(
          () => null,
          (error: { response?: { errors?: Array<{ extensions?: { code?: string; reason?: string } }> } }) =>
            error.response?.errors?.[0]?.extensions,
        );
        if (outcome) {
          t.like(outcome, { code: 'SESSION_REVOKED', reason: 'ADMIN_REVOKED' });
          return Date.now() - exitedAt;
        }
        if (Date.now() - exitedAt > 5_000) return Number.POSITIVE_INFINITY;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    };

    const revoke = await cli(t, ['sessions', 'revoke', aliceId, '--reason', 'incident 42']);
    t.is(revoke.code, 0, revoke.stderr);
    t.is(revoke.stdout, `Revoked session ${aliceId} of carol.\n`);
    const ms = await refusedAfter(alice, revoke.exitedAt);
    t.log(`revoked session refused ${ms} ms after the command exited`);
    t.true(ms < 1_000);

    const again = await cli(t, ['sessions', 'revoke', aliceId]);
    t.is(again.code, 0);
    t.is(again.stdout, `Session ${aliceId} of carol was already revoked (ADMIN_REVOKED).\n`);

    // A typo among several users fails the command before anything is revoked.
    const typo = await cli(t, ['sessions', 'revoke-user', 'dave', 'nobdy']);
    t.is(typo.code, 1);
    t.is(typo.stderr, 'No sessions of user nobdy.\n');
    for (const bob of bobs) t.is((await bob.request<{ hello: string }>('{ hello }')).hello, 'world');
    // Several users in one transaction; one line each.
    const all = await cli(t, ['sessions', 'revoke-user', 'dave', 'carol']);
    t.is(all.code, 0, all.stderr);
    t.is(all.stdout, 'Revoked 2 sessions of dave.\ncarol has no live session: nothing to revoke.\n');
    for (const bob of bobs) t.true((await refusedAfter(bob, all.exitedAt)) < 1_000);
    t.is((await cli(t, ['sessions', 'revoke-user', 'dave'])).stdout, 'dave has no live session: nothing to revoke.\n');

    const unknown = await cli(t, ['sessions', 'revoke', '00000000-0000-4000-8000-000000000000']);
    t.is(unknown.code, 1);
    t.is(unknown.stderr, 'No session 00000000-0000-4000-8000-000000000000.\n');
    const nobody = await cli(t, ['sessions', 'revoke-user', 'nobody']);
    t.is(nobody.code, 1);
    t.is(nobody.stderr, 'No sessions of user nobody.\n');
    t.is((await cli(t, ['sessions', 'revoke', 'not-a-uuid'])).code, 2);
    t.is((await cli(t, ['sessions', 'revoke', aliceId, '--reason', 'x'.repeat(201)])).code, 2);
  },
);

withDatabase(
  "against the running demo: the operator lists a signed-in user's sessions, revokes one, and the demo refuses its token and closes its socket within 1 s",
  async (t) => {
    // The database is the file's: end what earlier tests left of carol, under the demo's cap of 2.
    await (await controller(t)).revokeUser('carol');
    const demo = await startDemoProcess({ DATABASE_URL: t.context.db.url });
    t.teardown(() => demo.stop());
    const signedIn = await login(demo.url, 'carol');
    const { token, session } = signedIn.login;
    t.context.secrets.add(token);
    const socket = connect(new URL('graphql', demo.url.replace(/^http/, 'ws')).toString(), {
      authorization: `Bearer ${token}`,
    });
    t.teardown(() => socket.dispose());
    await socket.connected;

    const listed = await cli(t, ['sessions', 'list', '--user', 'carol', '--json']);
    t.is(listed.code, 0, listed.stderr);
    const rows = JSON.parse(listed.stdout) as Array<{ id: string; userId: string; status: string }>;
    t.like(
      rows.find((row) => row.id === session.id),
      { userId: 'carol', status: 'ACTIVE' },
      'the CLI sees the session the demo admitted',
    );

    const revoke = await cli(t, ['sessions', 'revoke', session.id, '--reason', 'lost phone']);
    t.is(revoke.code, 0, revoke.stderr);
    // A bound, not a wait: the race ends as soon as the socket closes.
    const closed = await Promise.race([socket.closed, sleep(5_000).then(() => undefined)]);
    t.deepEqual([closed?.code, closed?.reason], [4401, 'SESSION_REVOKED:ADMIN_REVOKED'], 'the socket is closed');
    t.true(closed!.at - revoke.exitedAt < 1_000, `closed ${closed!.at - revoke.exitedAt} ms after the command exited`);
    const refused = await demoClient(demo.url, token)
      .request('{ me }')
      .then(
        () => undefined,
        (error: { response?: { status?: number; errors?: Array<{ extensions?: Record<string, unknown> }> } }) => ({
          status: error.response?.status,
          ...error.response?.errors?.[0]?.extensions,
        }),
      );
    t.like(refused, { status: 401, code: 'SESSION_REVOKED', reason: 'ADMIN_REVOKED' }, 'HTTP refuses the token');
  },
);

/** Control characters a terminal would act on: C0 but the newline, DEL, C1. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the test looks for control characters.
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

// Found in a trial (issue 18 item 7): any user can plant terminal escape sequences in what an
// operator's terminal shows (a revocation note, a user agent, a user id): printed raw, they
// retitle the window, clear the screen, forge rows.
withDatabase('what users wrote is printed with its control characters escaped, in tables and in --json', async (t) => {
  const c = await controller(t);
  const user = 'mallory\u001b[31m';
  const agent = 'Evil/1.0 \u001b]0;owned\u0007\u001b[2J';
  const note = 'bye\u001b[1A\r\nFORGED ROW\u009b31m\u007f\u202e';
  const session = await c.openSession({ userId: user, sessionKey: key(t, 'esc'), userAgent: agent });
  await c.revoke(session.id, { reason: 'ADMIN_REVOKED', note, by: 'admin\u0007' });
  const set = await cli(t, ['limits', 'set', 'group', 'staff\u001b[8m', '3']);
  t.is(set.code, 0, set.stderr);

  const runs = {
    table: await cli(t, ['sessions', 'list', '--user', user, '--status', 'ALL']),
    json: await cli(t, ['sessions', 'list', '--user', user, '--status', 'ALL', '--json']),
    revoke: await cli(t, ['sessions', 'revoke', session.id]),
    revokeUser: await cli(t, ['sessions', 'revoke-user', user]),
    rules: await cli(t, ['limits', 'list']),
    rulesJson: await cli(t, ['limits', 'list', '--json']),
    remove: await cli(t, ['limits', 'remove', 'group', 'staff\u001b[8m']),
  };
  for (const [name, run] of Object.entries(runs)) {
    t.is(run.code, 0, `${name}: ${run.stderr}`);
    t.false(
      CONTROL.test(run.stdout + run.stderr),
      `${name} printed a control character: ${JSON.stringify(run.stdout)}`,
    );
    t.false(/[\u202a-\u202e\u2066-\u2069]/.test(run.stdout), `${name} printed a bidirectional override`);
  }
  // Escaped, not dropped: the operator sees what was written.
  t.true(runs.table.stdout.includes('mallory\\x1b[31m'), runs.table.stdout);
  t.true(runs.table.stdout.includes('bye\\x1b[1A\\r\\nFORGED ROW\\x9b31m\\x7f\\u202e'), runs.table.stdout);
  t.true(runs.table.stdout.includes('by admin\\x07'), runs.table.stdout);
  t.is(runs.table.stdout.trimEnd().split('\n').length, 2, 'a header and one row: no forged row');
  t.true(runs.revoke.stdout.includes('mallory\\x1b[31m'));
  t.true(runs.revokeUser.stdout.includes('mallory\\x1b[31m'));
  t.true(runs.rules.stdout.includes('staff\\x1b[8m'));
  // JSON escapes them its own way and still reads back to what was written.
  const [row] = JSON.parse(runs.json.stdout) as Array<{ userId: string; userAgent: string; revokedNote: string }>;
  t.deepEqual([row.userId, row.userAgent, row.revokedNote], [user, agent, note]);
  t.true(runs.json.stdout.includes('\\u009b31m\\u007f\\u202e'));
  t.like(
    (JSON.parse(runs.rulesJson.stdout) as Array<{ subject: string }>).find((r) => r.subject.startsWith('staff')),
    {
      subject: 'staff\u001b[8m',
    },
  );
});

// Found in a trial (issue 18 item 6): the demo's tokens never expire; one revoked, aged past the
// retention and pruned came back as a new session, since no tombstone outlived the row.
withDatabase(
  'a demo token revoked by the operator, aged past the retention and pruned by the CLI, is still refused by a restarted demo',
  async (t) => {
    await (await controller(t)).revokeUser('bob');
    const first = await startDemoProcess({ DATABASE_URL: t.context.db.url });
    const { token, session } = (await login(first.url, 'bob')).login;
    t.context.secrets.add(token);
    await first.stop();
    const revoke = await cli(t, ['sessions', 'revoke', session.id]);
    t.is(revoke.code, 0, revoke.stderr);
    // A year ago, far past the 30-day retention: aged in the database, not waited for.
    await internalsOf(await controller(t)).sql.all(
      `update gsc_session set created_at = now() - interval '366 days', last_seen_at = now() - interval '366 days',
              revoked_at = now() - interval '365 days' where id = ?`,
      [session.id],
    );
    const pruned = await cli(t, ['prune']);
    t.is(pruned.code, 0, pruned.stderr);
    t.regex(pruned.stdout, /^Deleted [1-9][\d,]* sessions/, 'precondition: the revoked row was pruned');

    // A new demo process: nothing in memory knows the token, only the store can refuse it.
    const second = await startDemoProcess({ DATABASE_URL: t.context.db.url });
    t.teardown(() => second.stop());
    const answer = await demoClient(second.url, token)
      .request<{ me: unknown }>('{ me }')
      .then(
        () => ({ status: 200, code: 'ADMITTED AGAIN' }),
        (error: { response?: { status?: number; errors?: Array<{ extensions?: Record<string, unknown> }> } }) => ({
          status: error.response?.status,
          ...error.response?.errors?.[0]?.extensions,
        }),
      );
    t.like(answer, { status: 401, code: 'SESSION_REVOKED', reason: 'ADMIN_REVOKED' });
  },
);

withDatabase('prune: --dry-run counts, a long run shows progress on stderr, then the result', async (t) => {
  const c = await controller(t);
  // 2,500 sessions revoked 40 days ago: past the 30-day retention, three batches of at most 1,000.
  await internalsOf(c).sql.all(
    `insert into gsc_session (id, user_id, key_hash, created_at, last_seen_at, revoked_at, revoked_reason)
     select gen_random_uuid(), 'old-' || i, encode(sha256(convert_to('old-key-' || i, 'UTF8')), 'hex'),
            now() - interval '41 days', now() - interval '41 days', now() - interval '40 days', 'LOGOUT'
       from generate_series(1, 2500) as i`,
  );
  const dry = await cli(t, ['prune', '--dry-run']);
  t.is(dry.code, 0, dry.stderr);
  t.is(dry.stdout, 'Would delete 2,500 sessions and 0 leases.\n');
  // A shorter retention from the environment, as the servers would have it, counts more.
  t.regex((await cli(t, ['prune', '--dry-run'], { GSC_RETENTION: '1m' })).stdout, /^Would delete 2,5\d\d sessions/);

  const run = await cli(t, ['prune']);
  t.is(run.code, 0, run.stderr);
  t.regex(run.stderr, /^pruning: 1,000 sessions and 0 leases deleted so far\n/);
  t.is(run.stdout, 'Deleted 2,500 sessions and 0 leases.\n');
  t.is((await cli(t, ['prune', '--dry-run'])).stdout, 'Would delete 0 sessions and 0 leases.\n');
  const quiet = await cli(t, ['prune']);
  t.is(quiet.stderr, '');
  t.is(quiet.stdout, 'Deleted 0 sessions and 0 leases.\n');
});

withDatabase('no output of any command carried a session key or its digest', (t) => {
  const leaked = [...t.context.secrets].filter((secret) => t.context.outputs.some((text) => text.includes(secret)));
  t.deepEqual(leaked, []);
  t.true(t.context.outputs.length > 40);
});
