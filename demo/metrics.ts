import type { IncomingMessage, ServerResponse } from 'node:http';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { SessionController } from '../src/index.js';

/**
 * `GET /metrics`: the library's metrics (docs/contract.md §9) and the process's own, in the
 * Prometheus text format, on a registry of the demo's. Returns the handler: it answers and
 * returns true for `GET /metrics`, and returns false for anything else.
 */
export async function metricsRoute(
  controller: SessionController<any>,
): Promise<(req: IncomingMessage, res: ServerResponse) => Promise<boolean>> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  await controller.metrics({ registry });
  return async (req, res) => {
    if (req.method !== 'GET' || new URL(req.url ?? '/', 'http://localhost').pathname !== '/metrics') return false;
    const text = await registry.metrics();
    res.setHeader('content-type', registry.contentType);
    res.end(text);
    return true;
  };
}
