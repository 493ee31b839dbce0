/**
 * The load generator: a process of its own (forked by `run.ts`), so autocannon never shares an
 * event loop with a server under test nor with the orchestrator. It takes one job at a time over
 * IPC and answers with the exact latencies' summary (autocannon's own histogram keeps whole
 * milliseconds, too coarse for "≤ 1 ms added").
 */
import autocannon, { type AutocannonRequest } from 'autocannon';
import { type LatencySummary, summarize } from './stats.js';

/** How each request of a job is built. */
export type RequestPlan =
  /** The same request every time (hot path, `@uniqueSession` field). */
  | { kind: 'static'; headers: Record<string, string>; body: string }
  /** A login per request, each for a user and a key never seen before. */
  | { kind: 'fresh-logins'; tag: string }
  /** A login per request for a random seeded user, with a new key. */
  | { kind: 'seeded-logins'; tag: string; userPrefix: string; users: number }
  /** The same body, as one of several existing sessions in turn (header identity). */
  | { kind: 'probes'; probes: Array<{ userId: string; sessionKey: string }>; body: string };

export interface LoadJob {
  url: string;
  /** Several servers at once (a fleet): the connections are spread evenly over them, `url` is ignored. */
  urls?: string[];
  connections: number;
  durationS: number;
  plan: RequestPlan;
}

export interface LoadResult {
  /** Completed responses and the time they took, measured here. */
  responses: number;
  elapsedS: number;
  rps: number;
  latency: LatencySummary;
  status: Record<string, number>;
  /** Socket errors and timeouts (autocannon's `errors`). */
  transportErrors: number;
  /** Responses, of any status, whose body carries GraphQL `errors` (a refusal is a 403 with errors). */
  graphqlErrors: number;
  /** 2xx responses without `errors`: what succeeded. */
  ok: number;
  /** Responses that refused an admission or a lease with SESSION_LIMIT_EXCEEDED. */
  limitExceeded: number;
  /** The first response with errors, for the report. */
  errorSample: string | null;
}

export const LOGIN_MUTATION = 'mutation Login($user: String!, $key: String!) { login(user: $user, key: $key) }';

function requestsFor(plan: RequestPlan, record: (status: number, body: string) => void): AutocannonRequest[] {
  const onResponse = (status: number, body: string) => record(status, body);
  const json = { 'content-type': 'application/json' };
  switch (plan.kind) {
    case 'static':
      return [{ method: 'POST', headers: { ...json, ...plan.headers }, body: plan.body, onResponse }];
    case 'fresh-logins': {
      let n = 0;
      return [
        {
          method: 'POST',
          headers: json,
          setupRequest: (request) => {
            n++;
            const variables = { user: `${plan.tag}-u${n}`, key: `${plan.tag}-k${n}` };
            return { ...request, body: JSON.stringify({ query: LOGIN_MUTATION, variables }) };
          },
          onResponse,
        },
      ];
    }
    case 'seeded-logins': {
      let n = 0;
      return [
        {
          method: 'POST',
          headers: json,
          setupRequest: (request) => {
            n++;
            const user = `${plan.userPrefix}${Math.floor(Math.random() * plan.users)}`;
            return {
              ...request,
              body: JSON.stringify({ query: LOGIN_MUTATION, variables: { user, key: `${plan.tag}-k${n}` } }),
            };
          },
          onResponse,
        },
      ];
    }
    case 'probes': {
      let n = 0;
      return [
        {
          method: 'POST',
          body: plan.body,
          setupRequest: (request) => {
            const probe = plan.probes[n++ % plan.probes.length];
            return { ...request, headers: { ...json, 'x-user': probe.userId, 'x-session': probe.sessionKey } };
          },
          onResponse,
        },
      ];
    }
  }
}

export async function runLoad(job: LoadJob): Promise<LoadResult> {
  const latencies: number[] = [];
  const status: Record<string, number> = {};
  let graphqlErrors = 0;
  let ok = 0;
  let limitExceeded = 0;
  let errorSample: string | null = null;
  const record = (code: number, body: string) => {
    status[code] = (status[code] ?? 0) + 1;
    if (body.includes('"errors"')) {
      graphqlErrors++;
      if (body.includes('SESSION_LIMIT_EXCEEDED')) limitExceeded++;
      errorSample ??= `${code} ${body.slice(0, 400)}`;
    } else if (code >= 200 && code < 300) {
      ok++;
    }
  };
  const started = process.hrtime.bigint();
  const urls = job.urls?.length ? job.urls : [job.url];
  const results = await Promise.all(
    urls.map((url, i) => {
      // Fresh identities must differ between the servers of a fleet too.
      const plan = urls.length > 1 && 'tag' in job.plan ? { ...job.plan, tag: `${job.plan.tag}-i${i}` } : job.plan;
      const instance = autocannon({
        url,
        connections: Math.max(1, Math.round(job.connections / urls.length)),
        duration: job.durationS,
        timeout: 10,
        requests: requestsFor(plan, record),
      });
      instance.on('response', (_client: unknown, _status: number, _bytes: number, responseTimeMs: number) => {
        latencies.push(responseTimeMs);
      });
      return instance;
    }),
  );
  const elapsedS = Number(process.hrtime.bigint() - started) / 1e9;
  const responses = latencies.length;
  const duration = Math.max(...results.map((r) => r.duration || 0));
  return {
    responses,
    elapsedS,
    rps: responses / Math.max(duration || elapsedS, 1e-9),
    latency: summarize(Float64Array.from(latencies)),
    status,
    transportErrors: results.reduce((n, r) => n + r.errors, 0),
    graphqlErrors,
    ok,
    limitExceeded,
    errorSample,
  };
}

type Message = { id: number; job: LoadJob };

// Forked by run.ts: serve jobs until the parent disconnects.
if (process.send) {
  process.on('message', (message: Message) => {
    runLoad(message.job).then(
      (result) => process.send!({ id: message.id, result }),
      (error: Error) => process.send!({ id: message.id, error: error.stack ?? String(error) }),
    );
  });
  process.on('disconnect', () => process.exit(0));
  process.send({ ready: true });
}
