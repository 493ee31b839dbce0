/**
 * `npm run bench:fair` (issue 18 item 5, docs/contract.md §15 "Fair listings"): can one user slow
 * everyone's session API? The bench-only server on a PostgreSQL database of its own; user `heavy`
 * has a 60,000-row history. In alternating rounds, without load and while `heavy` keeps 32
 * `sessions { totalCount }` requests in flight, it measures another user's `activeSessions` and
 * logins (one at a time each, a new user per login), side by side in one run.
 * Targets: loaded p50 ≤ 3× unloaded p50 for `activeSessions`, ≤ 2× for logins.
 *
 * FAIR_ROUNDS (default 5), FAIR_SECONDS (default 4): rounds, and seconds per phase and round.
 * Writes bench/results/fair.json. BENCH_DATABASE_URL: as for `npm run bench`.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { BenchDatabase } from './database.js';
import { ROOT, startServer, stopAllChildren } from './processes.js';
import type { BenchServerConfig } from './server.js';
import { median, quantile, round } from './stats.js';

const ROUNDS = Number(process.env.FAIR_ROUNDS ?? 5);
const SECONDS = Number(process.env.FAIR_SECONDS ?? 4);
const HISTORY = 60_000;
const FLOOD = 32;
const TARGETS = { activeSessions: 3, login: 2 };

/** Keep-alive connections, as real clients have; enough sockets for the whole flood at once. */
const agent = new Agent({ keepAlive: true, maxSockets: FLOOD + 4 });

function graphql(url: string, user: string, key: string, query: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', 'x-user': user, 'x-session': key } },
      (res) => {
        let text = '';
        res.on('data', (chunk) => (text += chunk));
        res.on('error', reject);
        res.on('end', () => {
          const body = JSON.parse(text) as { data?: unknown; errors?: unknown };
          if (body.errors) reject(new Error(`${user}: ${JSON.stringify(body.errors)}`));
          else resolve(body.data);
        });
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ query }));
  });
}

/** Calls `once` back to back until `stop` says so; the latency of each call, in ms. */
async function loop(once: () => Promise<unknown>, stop: () => boolean): Promise<number[]> {
  const samples: number[] = [];
  while (!stop()) {
    const started = performance.now();
    await once();
    samples.push(performance.now() - started);
  }
  return samples;
}

function p50(samples: number[]): number {
  return round(median(samples), 2);
}

function p95(samples: number[]): number {
  return round(
    quantile(
      [...samples].sort((a, b) => a - b),
      0.95,
    ),
    2,
  );
}

async function main(): Promise<void> {
  const db = await BenchDatabase.create();
  try {
    const config: BenchServerConfig = {
      databaseUrl: db.url,
      sessionControl: true,
      appMaxSessions: null,
      userMaxSessions: null,
      onLimit: 'REJECT_NEW',
    };
    const server = await startServer(
      'bench server',
      join(ROOT, 'bench', 'server.ts'),
      {
        BENCH_SERVER: JSON.stringify(config),
      },
      /bench server at (\S+)/,
    );
    const url = server.url;
    const heavyKey = `heavy-${randomBytes(8).toString('hex')}`;
    const lightKey = `light-${randomBytes(8).toString('hex')}`;
    await graphql(url, 'heavy', heavyKey, '{ activeSessions(first: 1) { totalCount } }');
    await graphql(url, 'light', lightKey, '{ activeSessions(first: 1) { totalCount } }');
    await db.query(
      `insert into gsc_session (id, user_id, key_hash, created_at, last_seen_at, revoked_at, revoked_reason)
       select gen_random_uuid(), 'heavy', encode(sha256(convert_to('heavy-history-' || i, 'UTF8')), 'hex'),
              now() - i * interval '20 seconds', now() - i * interval '20 seconds', now() - i * interval '20 seconds', 'LOGOUT'
         from generate_series(1, $1) as i`,
      [HISTORY],
    );
    await db.query('vacuum analyze gsc_session');
    const counted = (await graphql(url, 'heavy', heavyKey, '{ sessions(first: 1) { totalCount } }')) as {
      sessions: { totalCount: number };
    };

    let logins = 0;
    const probe = {
      activeSessions: () =>
        graphql(url, 'light', lightKey, '{ activeSessions(first: 10) { totalCount edges { node { id } } } }'),
      login: () => {
        logins += 1;
        const n = `${logins}-${randomBytes(4).toString('hex')}`;
        return graphql(url, `login-${n}`, `login-key-${n}`, `mutation { login(user: "login-${n}", key: "key-${n}") }`);
      },
    };
    // Warm-up: connections, statement plans, the server's code paths.
    for (let i = 0; i < 50; i++) await Promise.all([probe.activeSessions(), probe.login()]);

    const samples = {
      unloaded: { activeSessions: [] as number[], login: [] as number[] },
      loaded: { activeSessions: [] as number[], login: [] as number[] },
    };
    let floodAnswers = 0;
    let floodMs = 0;
    for (let r = 0; r < ROUNDS; r++) {
      for (const phase of ['unloaded', 'loaded'] as const) {
        const until = performance.now() + SECONDS * 1000;
        const stop = () => performance.now() >= until;
        const flood =
          phase === 'loaded'
            ? Array.from({ length: FLOOD }, () =>
                loop(() => graphql(url, 'heavy', heavyKey, '{ sessions(first: 1) { totalCount } }'), stop),
              )
            : [];
        const [active, login] = await Promise.all([loop(probe.activeSessions, stop), loop(probe.login, stop)]);
        for (const answers of await Promise.all(flood)) {
          floodAnswers += answers.length;
          floodMs += answers.reduce((a, b) => a + b, 0);
        }
        samples[phase].activeSessions.push(...active);
        samples[phase].login.push(...login);
      }
    }
    await server.stop();

    const row = (name: 'activeSessions' | 'login') => {
      const unloaded = p50(samples.unloaded[name]);
      const loaded = p50(samples.loaded[name]);
      const ratio = round(loaded / unloaded, 2);
      return {
        unloadedP50Ms: unloaded,
        loadedP50Ms: loaded,
        loadedP95Ms: p95(samples.loaded[name]),
        ratio,
        target: TARGETS[name],
        pass: ratio <= TARGETS[name],
        samples: { unloaded: samples.unloaded[name].length, loaded: samples.loaded[name].length },
      };
    };
    const result = {
      at: new Date().toISOString(),
      rounds: ROUNDS,
      secondsPerPhase: SECONDS,
      history: HISTORY,
      flood: FLOOD,
      heavyTotalCount: counted.sessions.totalCount,
      floodAnswersPerSecond: round(floodAnswers / (ROUNDS * SECONDS), 1),
      floodMeanMs: round(floodMs / Math.max(1, floodAnswers), 1),
      activeSessions: row('activeSessions'),
      login: row('login'),
    };
    const line = (name: string, r: ReturnType<typeof row>) =>
      `| ${name} | ${r.unloadedP50Ms} | ${r.loadedP50Ms} | ${r.loadedP95Ms} | ${r.ratio}× | ≤ ${r.target}× | ${r.pass ? 'pass' : 'FAIL'} |`;
    console.log(
      [
        `Fair session API: ${FLOOD} concurrent sessions { totalCount } by one user over ${HISTORY.toLocaleString('en-US')} rows (totalCount answered: ${result.heavyTotalCount.toLocaleString('en-US')}), ${ROUNDS} rounds of ${SECONDS}s per phase`,
        `flood: ${result.floodAnswersPerSecond} answers/s, mean ${result.floodMeanMs} ms each`,
        '',
        '| another user | unloaded p50 ms | loaded p50 ms | loaded p95 ms | loaded / unloaded | target | |',
        '| --- | --- | --- | --- | --- | --- | --- |',
        line('activeSessions', result.activeSessions),
        line('login', result.login),
      ].join('\n'),
    );
    mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
    writeFileSync(join(ROOT, 'bench', 'results', 'fair.json'), `${JSON.stringify(result, null, 2)}\n`);
    process.exitCode = result.activeSessions.pass && result.login.pass ? 0 : 1;
  } finally {
    agent.destroy();
    await stopAllChildren();
    await db.drop();
  }
}

main().catch(async (error: unknown) => {
  console.error(error);
  await stopAllChildren();
  process.exit(1);
});
