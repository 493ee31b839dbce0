/**
 * The demo's web page (issue 12 item 7, docs/contract.md §9), as a user sees it: the real demo
 * process (`npm start`'s entry point) and a real headless Chromium. Each browser context is a
 * device of its own (its own sessionStorage, its own user agent). The tests share one demo and
 * use different users, so that what one test leaves behind (sessions, rules) does not change
 * what another sees; where a count depends on the whole store, it is compared with the API's.
 */
import test, { type ExecutionContext } from 'ava';
import type { Browser, Locator, Page } from 'playwright-core';
import { launchChromium } from './helpers/browser.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { type DemoProcess, demoClient, login, startDemoProcess } from './helpers/demo-process.js';

const LAPTOP =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
const PHONE =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1';
const ANDROID =
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36';
const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0';
/** Markup a careless page would run: it sets `window.pwned`. */
const MARKUP = '<img src=x onerror=window.pwned=1>';

let demo: DemoProcess;
let database: TestDatabase;
let browser: Browser;
let home: string;

test.before(async () => {
  // Chromium first: without it, every test fails at once with launchChromium's message.
  browser = await launchChromium();
  database = await createTestDatabase();
  demo = await startDemoProcess(database.url ? { DATABASE_URL: database.url } : {});
  home = new URL('/', demo.url).toString();
});

test.after.always(async () => {
  await browser?.close();
  await demo?.stop();
  await database?.drop();
});

/**
 * What no page may do in any test: throw, or send an operation the server refuses before
 * running it (400: a syntax error, an unknown field, the demo's limits of demo/defences.ts).
 */
interface Watch {
  problems: string[];
}

/** A new device: a browser context with its own storage and user agent, on the page. */
async function device(t: ExecutionContext<unknown>, watch: Watch, userAgent = LAPTOP): Promise<Page> {
  const context = await browser.newContext({ userAgent, viewport: { width: 1280, height: 800 } });
  context.setDefaultTimeout(15_000);
  t.teardown(() => context.close());
  const page = await context.newPage();
  page.on('pageerror', (error) => watch.problems.push(`page error: ${error.message}`));
  page.on('response', (response) => {
    if (new URL(response.url()).pathname === '/graphql' && response.status() === 400) {
      watch.problems.push(`400 from /graphql for ${response.request().postData()?.slice(0, 300)}`);
    }
  });
  await page.goto(home);
  return page;
}

function watching(t: ExecutionContext<unknown>): Watch {
  const watch: Watch = { problems: [] };
  t.teardown(() => {
    if (watch.problems.length > 0) throw new Error(watch.problems.join('\n'));
  });
  return watch;
}

async function submitSignIn(page: Page, username: string, password = `${username}-password`): Promise<void> {
  await page.getByLabel('Username', { exact: true }).fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

/** Signs in and waits for Your devices, live (the page's subscription is open). */
async function signIn(page: Page, username: string): Promise<Locator> {
  await submitSignIn(page, username);
  const devices = yourDevices(page);
  await devices.getByText('Live', { exact: true }).waitFor();
  return devices;
}

const yourDevices = (page: Page) => page.getByRole('region', { name: 'Your devices' });
const rows = (region: Locator) => region.locator('tbody tr');
const row = (region: Locator, text: string) => rows(region).filter({ hasText: text });

/** The sign-in form, showing `reason`. */
async function backAtSignIn(page: Page, reason: string): Promise<void> {
  await page.getByText(reason, { exact: true }).waitFor();
  await page.getByRole('button', { name: 'Sign in', exact: true }).waitFor();
}

/**
 * A session of the admin's for checking the page against the API, opened once: the admin, like
 * everyone but staff, has the default cap of 2, so each admin page signs out at its test's end.
 */
let adminToken: Promise<string> | undefined;
function adminApi() {
  adminToken ??= login(demo.url, 'admin').then((answer) => answer.login.token);
  return adminToken.then((token) => demoClient(demo.url, token));
}

/** Polls `read` until `accept` holds: for values the page shows after a round trip. */
async function until<T>(what: string, read: () => Promise<T>, accept: (value: T) => boolean, ms = 15_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (accept(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(value)} after ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test.serial('the page at / needs no build step; a wrong password is shown with its message and code', async (t) => {
  const watch = watching(t);
  const html = await fetch(home);
  t.is(html.status, 200);
  t.regex(html.headers.get('content-type') ?? '', /^text\/html/);
  t.regex(html.headers.get('content-security-policy') ?? '', /default-src 'self'/);
  const script = await fetch(new URL('/vendor/graphql-ws.js', home));
  t.is(script.status, 200, "graphql-ws's browser client, from node_modules");
  t.regex(await script.text(), /graphqlWs/);

  const page = await device(t, watch);
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await submitSignIn(page, 'alice', 'not-her-password');
  const alert = page.getByRole('alert');
  await alert.getByText('Wrong username or password.').waitFor();
  t.regex((await alert.textContent()) ?? '', /UNAUTHENTICATED/);
  t.true(await page.getByLabel('Username', { exact: true }).isVisible(), 'still on the sign-in form');
});

test.serial(
  'Your devices: This device; a second device appears live; Sign out on its row sends it to the sign-in form saying why; a reload stays signed in',
  async (t) => {
    const watch = watching(t);
    const laptop = await device(t, watch, LAPTOP);
    const devices = await signIn(laptop, 'alice');
    await row(devices, 'This device').filter({ hasText: 'Chrome 120 on Windows 10' }).waitFor();
    t.is(await rows(devices).count(), 1);
    t.is(await laptop.getByRole('banner').getByText('alice', { exact: true }).count(), 1, 'the header names the user');
    await laptop.evaluate('window.sameDocument = true');

    const phone = await device(t, watch, PHONE);
    const phoneDevices = await signIn(phone, 'alice');
    await row(phoneDevices, 'This device').filter({ hasText: 'Safari 17.1 on iOS 17.1' }).waitFor();

    // The laptop learns of the phone through sessionEvents, without a reload.
    const phoneRow = row(devices, 'Safari 17.1 on iOS 17.1');
    await phoneRow.waitFor();
    t.true(await laptop.evaluate('window.sameDocument === true'), 'no reload');
    t.is(await phoneRow.getByText('This device').count(), 0);
    t.is(await row(devices, 'This device').getByRole('button', { name: 'Sign out' }).count(), 0);

    await phoneRow.getByRole('button', { name: 'Sign out', exact: true }).click();
    await backAtSignIn(phone, 'You were signed out from another device.');
    await phoneRow.waitFor({ state: 'detached' });
    t.is(await rows(devices).count(), 1);

    // sessionStorage keeps the token: a reload stays signed in, on this device only.
    await laptop.reload();
    await row(yourDevices(laptop), 'This device').waitFor();

    // Signing this device out (the demo's logout) forgets the token.
    await laptop.getByRole('banner').getByRole('button', { name: 'Sign out' }).click();
    await backAtSignIn(laptop, 'You signed out.');
    await laptop.reload();
    await laptop.getByLabel('Username', { exact: true }).waitFor();
    const left = await (await adminApi()).request<{ activeSessions: { totalCount: number } }>(
      '{ activeSessions(userId: "alice") { totalCount } }',
    );
    t.is(left.activeSessions.totalCount, 0, 'both of alice’s sessions ended on the server');
  },
);

test.serial(
  'the cap refuses a third device with the message and SESSION_LIMIT_EXCEEDED; Sign out everywhere else ends the others, live',
  async (t) => {
    const watch = watching(t);
    const laptop = await device(t, watch, LAPTOP);
    const devices = await signIn(laptop, 'carol');
    const android = await device(t, watch, ANDROID);
    await signIn(android, 'carol');
    await row(devices, 'Chrome 120 on Android 14').waitFor();

    const third = await device(t, watch, FIREFOX);
    await submitSignIn(third, 'carol');
    const alert = third.getByRole('alert');
    await alert.getByText('Session limit exceeded: this user allows at most 2 concurrent session(s).').waitFor();
    t.regex((await alert.textContent()) ?? '', /SESSION_LIMIT_EXCEEDED/);

    await devices.getByRole('button', { name: 'Sign out everywhere else' }).click();
    await backAtSignIn(android, 'You were signed out from another device.');
    await devices.getByText('Signed out 1 other device.').waitFor();
    await row(devices, 'Android').waitFor({ state: 'detached' });
    t.is(await rows(devices).count(), 1);
    t.true(
      await devices.getByRole('button', { name: 'Sign out everywhere else' }).isDisabled(),
      'no one else to sign out',
    );

    // A seat is free again: the third device gets in, and the laptop sees it arrive.
    await third.getByRole('button', { name: 'Sign in', exact: true }).click();
    await yourDevices(third).getByText('This device').waitFor();
    await row(devices, 'Firefox 121 on Linux').waitFor();
  },
);

test.serial('server strings are shown as text: a user agent or a username made of markup runs nothing', async (t) => {
  const watch = watching(t);
  const evil = await device(t, watch, MARKUP);
  const own = await signIn(evil, 'dave');
  await own.getByText(MARKUP, { exact: true }).waitFor();

  const viewer = await device(t, watch, LAPTOP);
  const devices = await signIn(viewer, 'dave');
  const shown = row(devices, 'Unknown device').getByText(MARKUP, { exact: true });
  await shown.waitFor();

  const stranger = await device(t, watch, LAPTOP);
  await submitSignIn(stranger, MARKUP, MARKUP);
  await stranger.getByRole('alert').getByText('Wrong username or password.').waitFor();

  for (const page of [evil, viewer, stranger]) {
    t.is(await page.locator('img[src="x"]').count(), 0, 'no element made from the string');
    t.is(await page.evaluate('window.pwned'), undefined, 'no handler ran');
  }
});

const statValue = (page: Page, name: string) =>
  page
    .locator('.stat')
    .filter({ has: page.getByText(name, { exact: true }) })
    .locator('dd')
    .textContent();

async function applyFilter(page: Page, user: string, status: string): Promise<Locator> {
  const all = page.getByRole('region', { name: 'All sessions' });
  await all.getByLabel('User', { exact: true }).fill(user);
  await all.getByLabel('Status', { exact: true }).selectOption({ label: status });
  await all.getByRole('button', { name: 'Apply' }).click();
  return all;
}

/** The user column of every listed row, once it shows only `user`'s sessions. */
async function listedUsers(all: Locator, user: string, count: number): Promise<string[]> {
  return until(
    `rows of ${user}`,
    () => rows(all).locator('td:first-child').allTextContents(),
    (users) => users.length === count && users.every((name) => name === user),
  );
}

test.serial(
  'admin: All sessions of every user, filtered by user and status, More, revoke (the user’s page goes to the sign-in form), stats',
  async (t) => {
    const watch = watching(t);
    const api = await adminApi();
    // dave is exempt from the caps: 21 more sessions, so that his list takes two pages of 20.
    for (let i = 0; i < 21; i++) await login(demo.url, 'dave');
    const bob = await device(t, watch, PHONE);
    await signIn(bob, 'bob');
    const count = async (filter: Record<string, unknown>) =>
      (
        await api.request<{ sessions: { totalCount: number } }>(
          'query ($f: SessionFilter) { sessions(filter: $f) { totalCount } }',
          { f: filter },
        )
      ).sessions.totalCount;

    const page = await device(t, watch, LAPTOP);
    await signIn(page, 'admin');
    await page.getByRole('banner').getByText('Admin', { exact: true }).waitFor();
    const all = page.getByRole('region', { name: 'All sessions' });
    await rows(all).first().waitFor();

    // The stats are the session API's.
    const stats = async () =>
      (
        await api.request<{ sessionStats: { activeSessions: number; activeUsers: number } }>(
          '{ sessionStats { activeSessions activeUsers } }',
        )
      ).sessionStats;
    const before = await stats();
    await until(
      'Active sessions',
      () => statValue(page, 'Active sessions'),
      (shown) => shown === before.activeSessions.toLocaleString('en-US'),
    );
    t.is(await statValue(page, 'Active users'), String(before.activeUsers));
    t.is(await statValue(page, 'Default limit per user'), '2');

    // Every user's sessions, newest first: bob's and the admin's are there.
    await row(all, 'bob').first().waitFor();
    t.true((await row(all, 'This device').count()) === 1, "the admin's own session, marked");

    // One user, every status, in pages of 20.
    const daves = await count({ userId: 'dave' });
    t.true(daves > 20 && daves <= 40, `dave has ${daves} sessions`);
    await applyFilter(page, 'dave', 'Any status');
    await listedUsers(all, 'dave', 20);
    await all.getByRole('button', { name: 'More' }).click();
    await listedUsers(all, 'dave', daves);
    await all.getByRole('button', { name: 'More' }).waitFor({ state: 'hidden' });
    // The markup user agent of the previous test is text here too.
    await all.getByText(MARKUP, { exact: true }).waitFor();
    t.is(await page.locator('img[src="x"]').count(), 0);

    // One user, active only; revoke: the user's page goes back to the sign-in form.
    await applyFilter(page, 'bob', 'Active');
    await listedUsers(all, 'bob', 1);
    const bobRow = row(all, 'bob');
    await bobRow.getByRole('button', { name: 'Revoke' }).click();
    await backAtSignIn(bob, 'An administrator signed you out.');
    await bobRow.getByText('Revoked', { exact: true }).waitFor();
    await bobRow.getByText('Ended by admin').waitFor();
    t.is(await bobRow.getByRole('button', { name: 'Revoke' }).count(), 0);
    await until(
      'Active sessions after the revocation',
      () => statValue(page, 'Active sessions'),
      (shown) => shown === (before.activeSessions - 1).toLocaleString('en-US'),
    );

    await applyFilter(page, 'bob', 'Revoked');
    await listedUsers(all, 'bob', 1);
    await applyFilter(page, 'bob', 'Active');
    await all.getByText('No sessions match.').waitFor();
    await page.getByRole('banner').getByRole('button', { name: 'Sign out' }).click();
    await backAtSignIn(page, 'You signed out.');
  },
);

test.serial('admin: a limit rule added, edited and removed in the page takes effect at the next sign-in', async (t) => {
  const watch = watching(t);
  const page = await device(t, watch, LAPTOP);
  await signIn(page, 'admin');
  const rules = page.getByRole('region', { name: 'Limit rules' });
  await rules.getByText('No rules: every user has the default limit.').waitFor();

  const save = async (subject: string, max: string) => {
    await rules.getByLabel('Applies to', { exact: true }).selectOption('USER');
    await rules.getByLabel('User or group', { exact: true }).fill(subject);
    await rules.getByLabel('Max sessions', { exact: true }).fill(max);
    await rules.getByRole('button', { name: 'Save rule' }).click();
  };
  await save('alice', '1');
  const rule = row(rules, 'alice');
  await rule.getByRole('cell', { name: '1', exact: true }).waitFor();

  // alice has no session left (the devices test signed both out): one gets in, the second not.
  const first = await device(t, watch, LAPTOP);
  await signIn(first, 'alice');
  const second = await device(t, watch, PHONE);
  await submitSignIn(second, 'alice');
  await second
    .getByRole('alert')
    .getByText('Session limit exceeded: this user allows at most 1 concurrent session(s).')
    .waitFor();

  // Edit: the form takes the rule, the new limit replaces it.
  await rule.getByRole('button', { name: 'Edit' }).click();
  t.is(await rules.getByLabel('User or group', { exact: true }).inputValue(), 'alice');
  await rules.getByLabel('Max sessions', { exact: true }).fill('3');
  await rules.getByRole('button', { name: 'Save rule' }).click();
  await rule.getByRole('cell', { name: '3', exact: true }).waitFor();
  t.is(await rows(rules).count(), 1, 'replaced, not added');
  await second.getByRole('button', { name: 'Sign in', exact: true }).click();
  await yourDevices(second).getByText('This device').waitFor();

  // Removed: the default limit (2) again, and alice has 2.
  await rule.getByRole('button', { name: 'Remove' }).click();
  await rules.getByText('No rules: every user has the default limit.').waitFor();
  const third = await device(t, watch, FIREFOX);
  await submitSignIn(third, 'alice');
  await third
    .getByRole('alert')
    .getByText('Session limit exceeded: this user allows at most 2 concurrent session(s).')
    .waitFor();

  // What the API refuses is shown, not swallowed: a blank name (the form trims it).
  await save(' ', '');
  await rules.getByRole('alert').waitFor();
  t.regex((await rules.getByRole('alert').textContent()) ?? '', /BAD_USER_INPUT/);
  await page.getByRole('banner').getByRole('button', { name: 'Sign out' }).click();
  await backAtSignIn(page, 'You signed out.');
});

// Found under CI's load: a session ended while the page's socket was still connecting made
// graphql-ws's dispose() reject with the close event, and nothing caught it (a page error).
test.serial(
  'stopping live updates from their own close handler, before the socket was acknowledged, throws nothing in the page',
  async (t) => {
    const watch = watching(t);
    const page = await device(t, watch);
    // A session that is over: the server closes its socket (4401) at connection_init, before any acknowledgement.
    const token = (await login(demo.url, 'dave')).login.token;
    await demoClient(demo.url, token).request('mutation { logout }');
    // A string, not a function: tsx's helpers (`__name`) do not exist in the page.
    const closed = await page.evaluate<{ code: number; reason: string }>(`(async () => {
    const { subscribe } = await import('/graphql.js');
    return new Promise((resolve) => {
      const stop = subscribe(${JSON.stringify(token)}, 'subscription { sessionEvents { type } }', {
        connected: () => {},
        next: () => {},
        error: () => {},
        // What the page does on a final close: it leaves the account, which stops the live updates.
        closed: (event) => {
          stop();
          resolve(event);
        },
      });
    });
  })()`);
    t.is(closed.code, 4401);
    t.regex(closed.reason, /^SESSION_REVOKED/);
    // A rejection nobody handles reaches the page's error event on a later turn.
    await page.waitForTimeout(500);
  },
);
