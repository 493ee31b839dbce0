/**
 * Prometheus metrics (docs/contract.md §9, "Metrics"), with `prom-client` as an optional peer: it
 * is loaded only when a host asks for metrics, so a host without it never needs it. The adapter
 * sees the runtimes through `RuntimeMonitor` only: their reports, the cache's size, and one count
 * from the store, read at most once per `ACTIVE_SESSIONS_EVERY_MS` however often it is scraped.
 */
import { SessionConfigError } from '../errors.js';
import type { AdmissionOutcome } from '../hooks.js';
import type { RuntimeMonitor } from '../runtime/contracts.js';
import { REVOKE_REASONS, type SessionLimitLevel } from '../vocabulary.js';

// Types only, used inside this module: no declaration the package ships names prom-client, so a
// host without it type-checks the package's declarations all the same.
type PromClient = typeof import('prom-client');
type Registry = import('prom-client').Registry;

/** The store is asked for the active-session gauge at most this often. */
const ACTIVE_SESSIONS_EVERY_MS = 5_000;

/** Seconds; admissions are one short transaction, so the interesting part is below 100 ms. */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** The `level` label of an admission no cap refused, evicted for or logged. */
const NO_LEVEL = 'NONE';

/** A prom-client `Registry`, as far as the library needs one (so its declarations never name prom-client). */
export interface MetricsRegistry {
  metrics(): Promise<string>;
  readonly contentType: string;
  removeSingleMetric(name: string): void;
}

export interface MetricsOptions {
  /** The prom-client `Registry` to register on. Default: prom-client's global `register`. */
  registry?: MetricsRegistry;
}

export interface SessionMetrics {
  /** Where the metrics are registered: serve `await registry.metrics()` as `registry.contentType`. */
  readonly registry: MetricsRegistry;
  /** Stops observing and removes the library's metrics from the registry. */
  close(): void;
}

/** The metric names, as docs/contract.md §9 fixes them. */
const METRIC_NAMES = [
  'gsc_admissions_total',
  'gsc_revocations_total',
  'gsc_lease_refusals_total',
  'gsc_store_errors_total',
  'gsc_active_sessions',
  'gsc_admission_duration_seconds',
  'gsc_cache_entries',
] as const;

async function loadPromClient(): Promise<unknown> {
  return import('prom-client');
}

/**
 * Registers the library's metrics on `options.registry` (or prom-client's default registry), fed
 * by `monitor`. Throws a `SessionConfigError` saying what to install when prom-client is missing.
 */
export async function registerMetrics(
  monitor: RuntimeMonitor,
  options: MetricsOptions = {},
  load: () => Promise<unknown> = loadPromClient,
): Promise<SessionMetrics> {
  let prom: PromClient;
  try {
    prom = (await load()) as PromClient;
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_MODULE_NOT_FOUND') {
      throw new SessionConfigError(
        'metrics() needs prom-client, an optional peer dependency of graphql-session-controller: npm install prom-client@^15',
      );
    }
    throw error;
  }
  const registry = (options.registry ?? prom.register) as Registry;
  const registers = [registry];

  const admissions = new prom.Counter({
    name: 'gsc_admissions_total',
    help: 'Session admissions by outcome (admitted, rejected, evicted, logged) and the cap involved (APP, USER, or NONE).',
    labelNames: ['result', 'level'] as const,
    registers,
  });
  const revocations = new prom.Counter({
    name: 'gsc_revocations_total',
    help: 'Sessions revoked on this instance, by reason (EVICTED, REVOKED, ADMIN_REVOKED, LOGOUT).',
    labelNames: ['reason'] as const,
    registers,
  });
  const leaseRefusals = new prom.Counter({
    name: 'gsc_lease_refusals_total',
    help: 'Seats refused on @uniqueSession fields (REJECT_NEW at the limit), by field (Type.field).',
    labelNames: ['field'] as const,
    registers,
  });
  const storeErrors = new prom.Counter({
    name: 'gsc_store_errors_total',
    help: 'Session store operations that failed (what onStoreError reports), by operation.',
    labelNames: ['operation'] as const,
    registers,
  });
  const duration = new prom.Histogram({
    name: 'gsc_admission_duration_seconds',
    help: "Time an admission spends in the store (the caps' transaction), in seconds.",
    buckets: DURATION_BUCKETS,
    registers,
  });
  const activeSessions = activeSessionsReader(monitor);
  new prom.Gauge({
    name: 'gsc_active_sessions',
    help: `Active sessions in the whole app, read from the store at most once every ${ACTIVE_SESSIONS_EVERY_MS / 1000} s.`,
    registers,
    async collect() {
      const value = await activeSessions();
      if (value !== undefined) this.set(value);
    },
  });
  new prom.Gauge({
    name: 'gsc_cache_entries',
    help: 'Sessions this instance keeps in memory (bounded by cacheSize).',
    registers,
    collect() {
      this.set(monitor.cachedSessions());
    },
  });

  // Series an alert reads exist from the start at 0, so rate() and increase() see the first event.
  admissions.labels('admitted', NO_LEVEL).inc(0);
  for (const level of ['APP', 'USER'] as const) admissions.labels('rejected', level).inc(0);
  for (const reason of REVOKE_REASONS) revocations.labels(reason).inc(0);

  const stop = monitor.observe({
    admission(outcome: AdmissionOutcome, level: SessionLimitLevel | null, seconds: number) {
      admissions.labels(outcome, level ?? NO_LEVEL).inc();
      duration.observe(seconds);
    },
    revocation(reason, sessions) {
      revocations.labels(reason).inc(sessions);
    },
    leaseRefused(field) {
      leaseRefusals.labels(field).inc();
    },
    storeError(operation) {
      storeErrors.labels(operation).inc();
    },
  });

  let closed = false;
  return {
    registry,
    close() {
      if (closed) return;
      closed = true;
      stop();
      for (const name of METRIC_NAMES) registry.removeSingleMetric(name);
    },
  };
}

/**
 * The active-session count, asked of the store at most once per `ACTIVE_SESSIONS_EVERY_MS`:
 * scrapes in between (and concurrent ones) share the last answer. A failed read keeps the last
 * value until the next attempt (the failure is counted in `gsc_store_errors_total`).
 */
function activeSessionsReader(monitor: RuntimeMonitor): () => Promise<number | undefined> {
  let value: number | undefined;
  let readAt = Number.NEGATIVE_INFINITY;
  let reading: Promise<number | undefined> | undefined;
  return () => {
    if (Date.now() - readAt < ACTIVE_SESSIONS_EVERY_MS) return Promise.resolve(value);
    reading ??= monitor
      .activeSessions()
      .then(
        (count) => (value = count),
        () => value,
      )
      .finally(() => {
        readAt = Date.now();
        reading = undefined;
      });
    return reading;
  };
}
