/**
 * `npx tsx scripts/screenshot-demo.ts [out.png]`: the README's picture of the demo's web page
 * (docs/images/demo-page.png), taken in headless Chromium (test/helpers/browser.ts) as the admin,
 * after a few users have signed in from a few devices. The demo runs in this process on a
 * throwaway embedded database, on a free port.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDemo } from '../demo/app.js';
import { demoConfig } from '../demo/config.js';
import { launchChromium } from '../test/helpers/browser.js';

const out = process.argv[2] ?? 'docs/images/demo-page.png';

const AGENTS = {
  mac: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  ipad: 'Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
  windows:
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  iphone:
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
  android:
    'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36',
  firefox: 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
};

const dataDir = await mkdtemp(join(tmpdir(), 'gsc-screenshot-'));
const demo = await startDemo(demoConfig({ PORT: '0', DEMO_DATA_DIR: dataDir, DEMO_SECRET: 'screenshot' }));
const api = new URL('graphql', demo.url);

/** One operation through the public API, as a device with this user agent. */
async function call(userAgent: string, query: string, token?: string): Promise<any> {
  const response = await fetch(api, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'user-agent': userAgent,
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query }),
  });
  const body = (await response.json()) as { data?: any; errors?: Array<{ message: string }> };
  if (body.errors) throw new Error(body.errors[0].message);
  return body.data;
}

const signIn = async (user: string, userAgent: string): Promise<string> =>
  (await call(userAgent, `mutation { login(username: "${user}", password: "${user}-password") { token } }`)).login
    .token;

const browser = await launchChromium();
try {
  // A few users on a few devices; one of them signed out, so the list shows a revoked row.
  const gone = await signIn('bob', AGENTS.windows);
  await call(AGENTS.windows, 'mutation { logout }', gone);
  await signIn('alice', AGENTS.windows);
  await signIn('alice', AGENTS.iphone);
  await signIn('bob', AGENTS.android);
  await signIn('carol', AGENTS.firefox);
  await signIn('dave', AGENTS.mac);
  const tablet = await signIn('admin', AGENTS.ipad);
  await call(
    AGENTS.ipad,
    'mutation { setSessionLimit(subjectType: USER, subject: "carol", maxSessions: 1) { subject } }',
    tablet,
  );
  await call(
    AGENTS.ipad,
    'mutation { setSessionLimit(subjectType: GROUP, subject: "staff", maxSessions: 5) { subject } }',
    tablet,
  );

  const context = await browser.newContext({ userAgent: AGENTS.mac, viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(demo.url);
  await page.getByLabel('Username', { exact: true }).fill('admin');
  await page.getByLabel('Password', { exact: true }).fill('admin-password');
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByText('Live', { exact: true }).waitFor();
  await page.getByRole('region', { name: 'All sessions' }).getByText('carol', { exact: true }).waitFor();
  await page.getByRole('region', { name: 'Limit rules' }).getByText('staff', { exact: true }).waitFor();
  await page.screenshot({ path: out, fullPage: true });
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
  await demo.stop();
  await rm(dataDir, { recursive: true, force: true });
}
