/**
 * Lease acquisition is atomic (docs/contract.md rule 6): 20 sessions racing for a `max: 1` field, on one
 * instance and on two instances sharing one database, leave exactly one holder. On PostgreSQL the
 * two instances have pools of their own, so their transactions truly interleave.
 */
import test, { type ExecutionContext } from 'ava';
import { createTestDatabase } from './helpers/database.js';
import { type RunningServer, startTestServer } from './helpers/server.js';
import { ask, errorAt, governedSchema, sharedDatabase } from './helpers/unique-session.js';

const RACERS = 20;

/** `count` servers (instances) on one database, all stopped when the test ends. */
async function instances(t: ExecutionContext, count: number): Promise<RunningServer[]> {
  const db = await createTestDatabase();
  t.teardown(() => db.drop());
  const shared = await sharedDatabase(db);
  // Registered after drop, so it runs before it (teardowns run last-in first-out).
  t.teardown(() => shared.close());
  const servers: RunningServer[] = [];
  for (let i = 0; i < count; i += 1) {
    const server = await startTestServer({ database: shared.option() }, governedSchema);
    t.teardown(() => server.stop());
    servers.push(server);
  }
  return servers;
}

/**
 * Admits every racer first (so the race is between lease acquisitions), then fires all the
 * governed requests at once, spread over the instances. Returns how many got the field.
 */
async function race(
  t: ExecutionContext,
  servers: RunningServer[],
  field: 'exam' | 'solo',
  userOf: (i: number) => string,
): Promise<number> {
  const racers = Array.from({ length: RACERS }, (_, i) => ({
    server: servers[i % servers.length],
    user: userOf(i),
    key: `${field}-${i}`,
  }));
  await Promise.all(racers.map((r) => ask(r.server, r.user, r.key, '{ hello }')));
  const answers = await Promise.all(racers.map((r) => ask(r.server, r.user, r.key, `{ hello ${field} }`)));
  let won = 0;
  for (const answer of answers) {
    t.is(answer.status, 200);
    t.is((answer.data as { hello: string }).hello, 'world', 'every racer gets the rest of its data');
    if ((answer.data as Record<string, unknown>)[field] !== null) won += 1;
    else t.like(errorAt(answer, field)?.extensions, { code: 'SESSION_LIMIT_EXCEEDED', level: 'VIEW', limit: 1 });
  }
  return won;
}

test('one instance: 20 sessions of one user racing for a max: 1 USER field, exactly one wins', async (t) => {
  const servers = await instances(t, 1);
  t.is(await race(t, servers, 'exam', () => 'alice'), 1);
  t.is((await servers[0].controller.leaseHolders('Query.exam', 'alice')).length, 1);
});

test('one instance: 20 users racing for a max: 1 APP field, exactly one wins', async (t) => {
  const servers = await instances(t, 1);
  t.is(await race(t, servers, 'solo', (i) => `user-${i}`), 1);
  t.is((await servers[0].controller.leaseHolders('Query.solo', '*')).length, 1);
});

test('two instances on one database: 20 sessions of one user racing for a max: 1 USER field, exactly one wins', async (t) => {
  const servers = await instances(t, 2);
  t.is(await race(t, servers, 'exam', () => 'alice'), 1);
  t.is((await servers[1].controller.leaseHolders('Query.exam', 'alice')).length, 1);
});

test('two instances on one database: 20 users racing for a max: 1 APP field, exactly one wins', async (t) => {
  const servers = await instances(t, 2);
  t.is(await race(t, servers, 'solo', (i) => `user-${i}`), 1);
  t.is((await servers[1].controller.leaseHolders('Query.solo', '*')).length, 1);
});
