/**
 * Prometheus metrics (docs/contract.md §9, issue 12 item 6), scraped over HTTP: from the demo's
 * `/metrics` as `npm start` runs it, and from a registry a host serves itself. Names and labels
 * are the contract's; the active-session gauge asks the store at most once per 5 s.
 */

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { Registry } from 'prom-client';
import { SessionController } from '../src/controller.js';
import { SessionConfigError } from '../src/errors.js';
import { registerMetrics } from '../src/metrics/prometheus.js';
import { createTestDatabase } from './helpers/database.js';
import { demoClient, login, startDemoProcess } from './helpers/demo-process.js';
import { internalsOf } from './helpers/internals.js';
import { failure } from './helpers/server.js';

/** One sample line's value, by metric name and exact labels (`{}` for none). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort()
    .join(',');
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const got = (match[2] ?? '').split(',').filter(Boolean).sort().join(',');
    if (got === wanted) return Number(match[3]);
  }
  return undefined;
}

async function scrape(url: string): Promise<{ text: string; contentType: string | null; status: number }> {
  const response = await fetch(url);
  return { text: await response.text(), contentType: response.headers.get('content-type'), status: response.status };
}

/** Serves a registry the way a host would, on its own port. */
async function serveRegistry(registry: Registry): Promise<{ url: string; server: Server }> {
  const server = createServer(async (_req, res) => {
    res.setHeader('content-type', registry.contentType);
    res.end(await registry.metrics());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`, server };
}

async function controllerWithMetrics(
  t: import('ava').ExecutionContext,
  options: Partial<Parameters<typeof SessionController.create>[0]> = {},
) {
  const db = await createTestDatabase();
  t.teardown(() => db.drop());
  const controller = await SessionController.create({ database: db.option(), identify: () => null, ...options });
  t.teardown(() => controller.close());
  const registry = new Registry();
  await controller.metrics({ registry });
  const served = await serveRegistry(registry);
  t.teardown(() => new Promise<void>((resolve) => served.server.close(() => resolve())));
  return { controller, registry, url: served.url };
}

test.serial(
  'the demo serves /metrics: admissions, refusals, revocations, seats, the gauges and the histogram',
  async (t) => {
    const db = await createTestDatabase();
    t.teardown(() => db.drop());
    const demo = await startDemoProcess(db.url ? { DATABASE_URL: db.url } : {});
    t.teardown(() => demo.stop());
    const metricsUrl = demo.metricsUrl!;

    const before = await scrape(metricsUrl);
    t.is(before.status, 200);
    t.regex(before.contentType ?? '', /^text\/plain; version=0\.0\.4/);
    // The series an alert reads exist before the first event.
    t.is(sample(before.text, 'gsc_admissions_total', { result: 'rejected', level: 'APP' }), 0);
    t.is(sample(before.text, 'gsc_store_errors_total'), undefined);
    t.regex(before.text, /# TYPE gsc_store_errors_total counter/);

    const first = await login(demo.url, 'alice');
    await login(demo.url, 'alice');
    t.is((await failure(login(demo.url, 'alice'))).code, 'SESSION_LIMIT_EXCEEDED');
    // Two sessions of one user, one exam seat: the second is refused.
    const bob1 = await login(demo.url, 'bob');
    const bob2 = await login(demo.url, 'bob');
    await demoClient(demo.url, bob1.login.token).request('{ exam }');
    const refused = await demoClient(demo.url, bob2.login.token, { partial: true }).rawRequest('{ exam }');
    t.is((refused.errors?.[0] as { extensions?: { code?: string } })?.extensions?.code, 'SESSION_LIMIT_EXCEEDED');
    await demoClient(demo.url, first.login.token).request('mutation { logout }');

    const { text } = await scrape(metricsUrl);
    t.is(sample(text, 'gsc_admissions_total', { result: 'admitted', level: 'NONE' }), 4);
    t.is(sample(text, 'gsc_admissions_total', { result: 'rejected', level: 'USER' }), 1);
    t.is(sample(text, 'gsc_revocations_total', { reason: 'LOGOUT' }), 1);
    t.is(sample(text, 'gsc_revocations_total', { reason: 'EVICTED' }), 0);
    t.is(sample(text, 'gsc_lease_refusals_total', { field: 'Query.exam' }), 1);
    t.is(sample(text, 'gsc_admission_duration_seconds_count'), 5);
    t.true(sample(text, 'gsc_admission_duration_seconds_sum')! > 0);
    t.is(sample(text, 'gsc_admission_duration_seconds_bucket', { le: '+Inf' }), 5);
    t.true(sample(text, 'gsc_cache_entries')! >= 3);
    // The gauge was read at the first scrape; it shows the three live sessions by the next read (5 s).
    let active: number | undefined;
    for (const deadline = Date.now() + 7_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 250))) {
      active = sample((await scrape(metricsUrl)).text, 'gsc_active_sessions');
      if (active === 3) break;
    }
    t.is(active, 3);
    // The process's own metrics come along (the demo registers prom-client's defaults).
    t.regex(text, /^process_cpu_user_seconds_total /m);
    // Nothing secret: no token, no key.
    t.false(text.includes(first.login.token));
  },
);

test.serial('the active-session gauge asks the store at most once per 5 s, however often it is scraped', async (t) => {
  const { controller, url } = await controllerWithMetrics(t);
  const sessionReads = internalsOf(controller).store.reads;
  const count = sessionReads.countActiveSessions.bind(sessionReads);
  let reads = 0;
  sessionReads.countActiveSessions = () => {
    reads++;
    return count();
  };
  await controller.openSession({ userId: 'u1', sessionKey: 'k1' });
  const started = Date.now();
  // At most one read per started 5 s, however slow a loaded machine makes the scrapes.
  const allowed = () => 1 + Math.floor((Date.now() - started) / 5_000);
  const scrapes = await Promise.all(Array.from({ length: 10 }, () => scrape(url)));
  for (let i = 0; i < 20; i++) scrapes.push(await scrape(url));
  t.true(reads >= 1 && reads <= allowed(), `${reads} reads in ${Date.now() - started} ms`);
  t.true(scrapes.every((s) => sample(s.text, 'gsc_active_sessions') === 1));
  // A new session shows at a later read, within the interval.
  await controller.openSession({ userId: 'u2', sessionKey: 'k2' });
  const opened = Date.now();
  let active: number | undefined;
  while (active !== 2 && Date.now() - opened < 12_000) {
    active = sample((await scrape(url)).text, 'gsc_active_sessions');
    if (active !== 2) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  t.is(active, 2);
  t.true(reads <= allowed(), `${reads} reads in ${Date.now() - started} ms`);
});

test.serial('evictions, LOG_ONLY admissions and store errors are counted with their labels', async (t) => {
  const evicting = await controllerWithMetrics(t, { user: { maxSessions: 1, onLimit: 'EVICT_OLDEST' } });
  await evicting.controller.openSession({ userId: 'u', sessionKey: 'a' });
  await evicting.controller.openSession({ userId: 'u', sessionKey: 'b' });
  // A failed store operation, as every runtime reports it.
  const { sessions } = internalsOf(evicting.controller);
  await t.throwsAsync(sessions.guard('revoke', () => Promise.reject(new Error('connection refused'))));
  await t.throwsAsync(sessions.guard('revoke', () => Promise.reject(new Error('connection refused'))));
  const evicted = (await scrape(evicting.url)).text;
  t.is(sample(evicted, 'gsc_admissions_total', { result: 'admitted', level: 'NONE' }), 1);
  t.is(sample(evicted, 'gsc_admissions_total', { result: 'evicted', level: 'USER' }), 1);
  t.is(sample(evicted, 'gsc_revocations_total', { reason: 'EVICTED' }), 1);
  t.is(sample(evicted, 'gsc_store_errors_total', { operation: 'revoke' }), 2);

  const logging = await controllerWithMetrics(t, {
    user: { maxSessions: 1, onLimit: 'LOG_ONLY' },
    app: { maxSessions: 2 },
  });
  await logging.controller.openSession({ userId: 'v', sessionKey: 'a' });
  await logging.controller.openSession({ userId: 'v', sessionKey: 'b' });
  await t.throwsAsync(logging.controller.openSession({ userId: 'w', sessionKey: 'c' }));
  const logged = (await scrape(logging.url)).text;
  t.is(sample(logged, 'gsc_admissions_total', { result: 'logged', level: 'USER' }), 1);
  t.is(sample(logged, 'gsc_admissions_total', { result: 'rejected', level: 'APP' }), 1);
});

test.serial(
  'metrics() is idempotent per registry, and close() unregisters; closing the controller does too',
  async (t) => {
    const db = await createTestDatabase();
    t.teardown(() => db.drop());
    const controller = await SessionController.create({ database: db.option(), identify: () => null });
    t.teardown(() => controller.close());
    const registry = new Registry();
    const metrics = await controller.metrics({ registry });
    t.is(await controller.metrics({ registry }), metrics);
    t.is(metrics.registry, registry);
    t.truthy(registry.getSingleMetric('gsc_admissions_total'));
    metrics.close();
    t.is(registry.getSingleMetric('gsc_admissions_total'), undefined);
    // Registered again after close, then removed when the controller closes.
    await controller.metrics({ registry });
    t.truthy(registry.getSingleMetric('gsc_cache_entries'));
    await controller.close();
    t.is(registry.getSingleMetric('gsc_cache_entries'), undefined);
  },
);

test.serial('without prom-client installed, metrics() says what to install', async (t) => {
  const missing = Object.assign(new Error("Cannot find package 'prom-client'"), { code: 'ERR_MODULE_NOT_FOUND' });
  const monitor = { observe: () => () => {}, cachedSessions: () => 0, activeSessions: async () => 0 };
  const error = await t.throwsAsync(
    registerMetrics(monitor, {}, () => Promise.reject(missing)),
    { instanceOf: SessionConfigError },
  );
  t.regex(error!.message, /npm install prom-client/);
});
