import test from 'ava';
import { createTestDatabase, onPostgres } from './helpers/database.js';
import { type DemoProcess, demoClient, login, startDemoProcess } from './helpers/demo-process.js';
import { failure } from './helpers/server.js';

// The demo as a new user meets it: `npm start`'s own entry point, real HTTP, real tokens. On
// PostgreSQL two demo processes share one database; the embedded database belongs to one process.
const INSTANCES = onPostgres ? 2 : 1;

async function startFleet(t: import('ava').ExecutionContext, env: Record<string, string> = {}): Promise<DemoProcess[]> {
  const db = await createTestDatabase();
  t.teardown(() => db.drop());
  const demos: DemoProcess[] = [];
  t.teardown(async () => {
    for (const demo of demos) await demo.stop();
  });
  const shared: Record<string, string> = db.url ? { DATABASE_URL: db.url } : {};
  // Started one after the other: both apply migrations, the second finds nothing to do.
  for (let i = 0; i < INSTANCES; i++) demos.push(await startDemoProcess({ ...shared, ...env }));
  return demos;
}

test.serial('a user signs in, reads its data, is capped at two sessions, and logs out', async (t) => {
  const [demo] = await startFleet(t);
  const first = await login(demo.url, 'alice');
  t.is(first.login.session.userId, 'alice');
  t.true(first.login.session.current);
  t.deepEqual(await demoClient(demo.url, first.login.token).request('{ me dashboard }'), {
    me: 'alice',
    dashboard: 'Welcome alice',
  });

  const wrong = await failure(
    demoClient(demo.url).request('mutation { login(username: "alice", password: "nope") { token } }'),
  );
  t.is(wrong.code, 'UNAUTHENTICATED');
  const anonymous = await failure(demoClient(demo.url).request('{ dashboard }'));
  t.is(anonymous.code, 'UNAUTHENTICATED');

  await login(demo.url, 'alice');
  const third = await failure(login(demo.url, 'alice'));
  t.is(third.code, 'SESSION_LIMIT_EXCEEDED');
  t.is(third.extensions.level, 'USER');
  t.is(third.extensions.limit, 2);

  t.true((await demoClient(demo.url, first.login.token).request<{ logout: boolean }>('mutation { logout }')).logout);
  const after = await failure(demoClient(demo.url, first.login.token).request('{ me }'));
  t.is(after.code, 'SESSION_REVOKED');
  t.is(after.status, 401);
  t.is(after.extensions.reason, 'LOGOUT');
  // The freed slot admits a new session.
  t.truthy((await login(demo.url, 'alice')).login.token);
});

test.serial(
  'exam is held by one session per user; seat by two sessions in the app; the refused caller keeps the rest',
  async (t) => {
    const [demo] = await startFleet(t);
    const a1 = (await login(demo.url, 'alice')).login.token;
    const a2 = (await login(demo.url, 'alice')).login.token;
    t.deepEqual(await demoClient(demo.url, a1).request('{ exam }'), { exam: 'Exam paper for alice' });

    const refused = await demoClient(demo.url, a2, { partial: true }).rawRequest<{
      exam: string | null;
      dashboard: string;
    }>('{ exam dashboard }');
    t.is(refused.data.exam, null);
    t.is(refused.data.dashboard, 'Welcome alice');
    t.is(refused.errors?.[0]?.extensions?.code, 'SESSION_LIMIT_EXCEEDED');
    t.is(refused.errors?.[0]?.extensions?.level, 'VIEW');
    t.is(refused.errors?.[0]?.extensions?.field, 'Query.exam');

    // The holder keeps it; once it logs out, the other session may take the exam.
    t.deepEqual(await demoClient(demo.url, a1).request('{ exam }'), { exam: 'Exam paper for alice' });
    await demoClient(demo.url, a1).request('mutation { logout }');
    t.deepEqual(await demoClient(demo.url, a2).request('{ exam }'), { exam: 'Exam paper for alice' });

    const seats = await Promise.all(
      ['alice', 'bob', 'carol'].map(async (user) => (await login(demo.url, user)).login.token),
    );
    t.deepEqual(await demoClient(demo.url, seats[0]).request('{ seat }'), { seat: 'Seat taken by alice' });
    t.deepEqual(await demoClient(demo.url, seats[1]).request('{ seat }'), { seat: 'Seat taken by bob' });
    const third = await demoClient(demo.url, seats[2], { partial: true }).rawRequest<{
      seat: string | null;
      me: string;
    }>('{ seat me }');
    t.is(third.data.seat, null);
    t.is(third.data.me, 'carol');
    t.is(third.errors?.[0]?.extensions?.code, 'SESSION_LIMIT_EXCEEDED');
    t.is(third.errors?.[0]?.extensions?.field, 'Query.seat');
  },
);

test.serial(
  `${INSTANCES} demo instance(s) on one database never admit more sessions than the cap, however logins race`,
  async (t) => {
    const demos = await startFleet(t);
    const attempts = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) => login(demos[i % demos.length].url, 'bob')),
    );
    const admitted = attempts.filter((a) => a.status === 'fulfilled');
    t.is(admitted.length, 2);
    for (const rejected of attempts.filter((a): a is PromiseRejectedResult => a.status === 'rejected')) {
      t.is((await failure(Promise.reject(rejected.reason))).code, 'SESSION_LIMIT_EXCEEDED');
    }
    // dave is staff: exempt, recorded, never limited.
    const dave = await Promise.all([1, 2, 3].map(() => login(demos[0].url, 'dave')));
    t.is(new Set(dave.map((d) => d.login.session.id)).size, 3);
  },
);

test.serial('the demo stops cleanly on SIGTERM and its sessions survive a restart', async (t) => {
  const db = await createTestDatabase();
  t.teardown(() => db.drop());
  const { mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dataDir = await mkdtemp(join(tmpdir(), 'gsc-demo-restart-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const env: Record<string, string> = { DEMO_DATA_DIR: dataDir, ...(db.url ? { DATABASE_URL: db.url } : {}) };

  const before = await startDemoProcess(env);
  t.teardown(() => before.stop());
  const token = (await login(before.url, 'carol')).login.token;
  t.is(await before.stop(), 0);

  const after = await startDemoProcess(env);
  t.teardown(() => after.stop());
  t.deepEqual(await demoClient(after.url, token).request('{ me }'), { me: 'carol' });
  const list = await demoClient(after.url, token).request<{ activeSessions: { totalCount: number } }>(
    '{ activeSessions { totalCount } }',
  );
  t.is(list.activeSessions.totalCount, 1);
});

test.serial('SESSION_CONTROL=off serves the same schema with no caps and inert directives', async (t) => {
  const [demo] = await startFleet(t, { SESSION_CONTROL: 'off', SESSION_MAX_PER_USER: '1' });
  const tokens = await Promise.all([1, 2].map(async () => (await login(demo.url, 'alice')).login.token));
  for (const token of tokens) {
    t.deepEqual(await demoClient(demo.url, token).request('{ exam dashboard }'), {
      exam: 'Exam paper for alice',
      dashboard: 'Welcome alice',
    });
  }
});
