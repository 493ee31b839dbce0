/**
 * Quiet, useful logs during a store outage (issue 17 item 9, docs/contract.md §12 "Release,
 * fail-closed, seats"): one line when it starts, at most one a minute while it lasts, one when it
 * ends with its duration, all through the `logger` option. A real server whose database goes
 * away under load (see interruptibleDatabase) and a recording logger.
 */
import test from 'ava';
import { Log } from '../src/logger.js';
import { StoreOutageLog } from '../src/outage-log.js';
import { eventually, interruptibleDatabase, outcome, serve, sleep } from './helpers/core.js';
import { recordingLogger } from './helpers/logger.js';

const storeLines = (lines: string[]) => lines.filter((l) => l.includes('session store'));

test.serial(
  'an outage under load is logged once when it starts and once when it ends, with its duration',
  async (t) => {
    const outage = await interruptibleDatabase(t);
    const { logger, lines } = recordingLogger();
    const s = await serve(t, { database: outage.database, syncInterval: 100, logger });
    await s.client('ann', 'a1').request('{ hello }');
    const before = lines.length;

    await outage.down();
    // Requests of unknown sessions (each a failed store call), and change-feed polls every 100 ms.
    const started = Date.now();
    let failed = 0;
    while (Date.now() - started < 2_500) {
      const answers = await Promise.all(
        Array.from({ length: 10 }, (_, i) => outcome(s.client(`u${i}`, `k-${Date.now()}-${i}`).request('{ hello }'))),
      );
      failed += answers.filter((a) => a === 'SESSION_STORE_UNAVAILABLE 503').length;
      await sleep(50); // the load's pace: the outage lasts 2.5 s of it
    }
    t.true(failed >= 50, `${failed} requests refused during the outage`);
    const during = lines.slice(before);
    t.is(storeLines(during).length, 1, during.join('\n'));
    t.regex(storeLines(during)[0], /^warn: \[graphql-session-controller\] the session store is unavailable: /);

    await outage.up();
    const ended = await eventually(
      async () => lines.slice(before).find((l) => l.includes('answers again')),
      10_000,
      100,
    );
    t.regex(
      ended,
      /^info: \[graphql-session-controller\] the session store answers again: the outage lasted \d+\.\d s \(\d+ failed calls\)$/,
    );
    t.is(storeLines(lines.slice(before)).length, 2, lines.slice(before).join('\n'));
    t.false(
      lines.some((l) => /a1|k-\d/.test(l)),
      'no session key in the logs',
    );
  },
);

test('a long outage is reminded at most once a minute, with how long and how many calls failed', (t) => {
  const { logger, lines } = recordingLogger();
  let now = 0;
  const log = new StoreOutageLog(new Log(logger), () => now);
  const boom = new Error('connect ECONNREFUSED 127.0.0.1:5432');
  for (; now < 150_000; now += 100) log.failed('request', boom);
  log.answered();
  t.deepEqual(lines, [
    'warn: [graphql-session-controller] the session store is unavailable: request failed (connect ECONNREFUSED 127.0.0.1:5432); logged again at most once a minute while it lasts, and when it answers',
    'warn: [graphql-session-controller] the session store is still unavailable after 60.0 s: 601 failed calls so far, the last request (connect ECONNREFUSED 127.0.0.1:5432)',
    'warn: [graphql-session-controller] the session store is still unavailable after 120.0 s: 1201 failed calls so far, the last request (connect ECONNREFUSED 127.0.0.1:5432)',
    'info: [graphql-session-controller] the session store answers again: the outage lasted 150.0 s (1500 failed calls)',
  ]);
  log.answered();
  t.is(lines.length, 4, 'nothing to say when the store already answered');
});
