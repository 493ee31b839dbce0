/**
 * The demo as a production example (issue 18 item 9): sign-ins throttled per address and per
 * username (HTTP 429, `Retry-After`, `RATE_LIMITED`), on the demo's database when it is
 * PostgreSQL (shared by instances); `/metrics` only on its own port (METRICS_PORT).
 */
import test from 'ava';
import { createTestDatabase } from './helpers/database.js';
import { type DemoProcess, startDemoProcess } from './helpers/demo-process.js';

const LOGIN =
  'mutation ($username: String!, $password: String!) { login(username: $username, password: $password) { token } }';

interface Answer {
  status: number;
  retryAfter: string | null;
  code: string | undefined;
  extensions: Record<string, unknown> | undefined;
}

async function signIn(demo: DemoProcess, username: string, password: string): Promise<Answer> {
  const response = await fetch(new URL('graphql', demo.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: LOGIN, variables: { username, password } }),
  });
  const body = (await response.json()) as { errors?: Array<{ extensions?: Record<string, unknown> }> };
  const extensions = body.errors?.[0]?.extensions;
  return {
    status: response.status,
    retryAfter: response.headers.get('retry-after'),
    code: extensions?.code as string | undefined,
    extensions,
  };
}

/** Demos on one database of the test's own: two on PostgreSQL (they share the counts), one embedded. */
async function startDemos(t: import('ava').ExecutionContext, env: Record<string, string>): Promise<DemoProcess[]> {
  const db = await createTestDatabase();
  t.teardown(() => db.drop());
  const shared = db.url ? { DATABASE_URL: db.url } : {};
  const count = db.url ? 2 : 1;
  const demos: DemoProcess[] = [];
  for (let i = 0; i < count; i++) {
    const demo = await startDemoProcess({ ...shared, ...env });
    t.teardown(() => demo.stop());
    demos.push(demo);
  }
  return demos;
}

// Found in a trial (issue 18 item 9): 178–294 password guesses a second over HTTP, never a 429.
test('past DEMO_LOGIN_PER_IP sign-ins a minute from one address, login answers 429 with Retry-After and RATE_LIMITED, right password or not', async (t) => {
  const demos = await startDemos(t, { DEMO_LOGIN_PER_IP: '4', DEMO_LOGIN_FAILURES_PER_USER: '0' });
  const answers: Answer[] = [];
  for (let i = 0; i < 4; i++) answers.push(await signIn(demos[i % demos.length], `guess-${i}`, 'wrong'));
  t.deepEqual(
    answers.map((a) => [a.status, a.code]),
    Array(4).fill([200, 'UNAUTHENTICATED']),
    'the first four attempts are answered',
  );
  for (const demo of demos) {
    const refused = await signIn(demo, 'dave', 'dave-password');
    t.is(refused.status, 429);
    t.is(refused.code, 'RATE_LIMITED');
    const seconds = Number(refused.retryAfter);
    t.true(Number.isInteger(seconds) && seconds >= 1 && seconds <= 60, `Retry-After: ${refused.retryAfter}`);
    t.is(refused.extensions?.retryAfter, seconds, 'extensions.retryAfter says the same');
  }
});

test('past DEMO_LOGIN_FAILURES_PER_USER wrong passwords, that username is refused with 429 even with the right one; other usernames are not; a sign-in clears the count', async (t) => {
  const demos = await startDemos(t, { DEMO_LOGIN_PER_IP: '0', DEMO_LOGIN_FAILURES_PER_USER: '3' });
  const at = (i: number) => demos[i % demos.length];
  for (let i = 0; i < 3; i++) t.is((await signIn(at(i), 'alice', 'guess')).code, 'UNAUTHENTICATED');
  const locked = await signIn(at(3), 'alice', 'alice-password');
  t.deepEqual([locked.status, locked.code], [429, 'RATE_LIMITED'], 'alice is locked, right password or not');
  t.true(Number(locked.retryAfter) > 60, `Retry-After within the 15-minute window: ${locked.retryAfter}`);

  // bob: two failures, a sign-in (clears them), two more failures: still not locked.
  for (let i = 0; i < 2; i++) t.is((await signIn(at(i), 'bob', 'guess')).code, 'UNAUTHENTICATED');
  t.is((await signIn(at(0), 'bob', 'bob-password')).status, 200);
  for (let i = 0; i < 2; i++) t.is((await signIn(at(i), 'bob', 'guess')).code, 'UNAUTHENTICATED');
  const bob = await signIn(at(1), 'bob', 'bob-password');
  t.deepEqual([bob.status, bob.code], [200, undefined], 'a sign-in forgot the earlier failures');
});

test('/metrics is not served on the public port, only on METRICS_PORT; METRICS_PORT=off serves none', async (t) => {
  const [demo] = await startDemos(t, {});
  const publicMetrics = await fetch(new URL('/metrics', demo.url));
  t.not(publicMetrics.status, 200);
  t.false((await publicMetrics.text()).includes('gsc_admissions_total'), 'no metrics on the public port');
  t.truthy(demo.metricsUrl);
  t.not(new URL(demo.metricsUrl!).port, new URL(demo.url).port);
  const scraped = await fetch(demo.metricsUrl!);
  t.is(scraped.status, 200);
  t.regex(await scraped.text(), /# TYPE gsc_admissions_total counter/);

  const off = await startDemoProcess({ METRICS_PORT: 'off' });
  t.teardown(() => off.stop());
  t.is(off.metricsUrl, null);
  t.regex(off.output(), /metrics off \(METRICS_PORT=off\)/);
});
