/**
 * The session API's cost bound (issue 9, item 2): a request that asks for more session API fields
 * than `api.maxCallsPerRequest` is refused before any SQL runs, in both schema styles and without
 * the plugin; within the bound it is served.
 */
import test from 'ava';
import { type FragmentDefinitionNode, type OperationDefinitionNode, parse } from 'graphql';
import { sessionApiCost } from '../src/api/cost.js';
import { admit, newKey, SCHEMA_STYLES, useApiServer } from './helpers/api.js';
import { failure } from './helpers/server.js';

const aliased = (n: number, field = 'activeSessions { totalCount }') =>
  `{ ${Array.from({ length: n }, (_, i) => `a${i}: ${field}`).join(' ')} }`;

for (const style of SCHEMA_STYLES) {
  const api = useApiServer(test, style);

  test(`${style}: a request over the bound is refused before it executes, with COST_LIMIT_EXCEEDED and HTTP 400`, async (t) => {
    const alice = api().as('alice', newKey('alice'));
    await admit(alice);
    const f = await failure(alice.request(aliased(11)));
    t.is(f.code, 'COST_LIMIT_EXCEEDED', f.message);
    t.is(f.status, 400);
    t.like(f.extensions, { limit: 10, cost: 11 });
  });

  test(`${style}: a request at the bound is served`, async (t) => {
    const alice = api().as('alice', newKey('alice'));
    await admit(alice);
    const data = await alice.request<Record<string, { totalCount: number }>>(aliased(10));
    t.is(Object.keys(data).length, 10);
    t.true(Object.values(data).every((v) => v.totalCount >= 1));
  });

  test(`${style}: an anonymous request over the bound is refused as well (no store work for anyone)`, async (t) => {
    const f = await failure(api().as().request(aliased(50, 'sessionStats { activeSessions }')));
    t.is(f.code, 'COST_LIMIT_EXCEEDED');
  });
}

function costOf(source: string): number {
  const document = parse(source);
  const operation = document.definitions.find((d) => d.kind === 'OperationDefinition') as OperationDefinitionNode;
  const fragments = Object.fromEntries(
    document.definitions
      .filter((d): d is FragmentDefinitionNode => d.kind === 'FragmentDefinition')
      .map((f) => [f.name.value, f]),
  );
  return sessionApiCost(operation, fragments);
}

test('the cost counts aliases, inline fragments and fragment spreads at the root, and nothing else', (t) => {
  t.is(costOf('{ me dashboard }'), 0);
  t.is(costOf('{ a: activeSessions { totalCount } b: activeSessions { totalCount } sessionStats { activeUsers } }'), 3);
  t.is(
    costOf(
      '{ ... on Query { activeSessions { totalCount } } ...F } fragment F on Query { x: sessionLimitRules { subject } }',
    ),
    2,
  );
  t.is(costOf('mutation { revokeOtherSessions a: revokeOtherSessions }'), 2);
});

test('nested fragment spreads are counted without an exponential walk', (t) => {
  // Each level spreads the next twice: 2^40 paths, counted in linear time.
  const levels = 40;
  const fragments = Array.from({ length: levels }, (_, i) =>
    i === levels - 1
      ? `fragment F${i} on Query { activeSessions { totalCount } }`
      : `fragment F${i} on Query { ...F${i + 1} ...F${i + 1} }`,
  ).join('\n');
  const started = performance.now();
  const cost = costOf(`{ ...F0 }\n${fragments}`);
  t.true(cost > 10);
  t.true(performance.now() - started < 1_000, 'counted quickly');
});

test('without the plugin, the API itself holds the bound: calls past it fail before their SQL', async (t) => {
  const { SessionController } = await import('../src/controller.js');
  const { ownDatabase } = await import('./helpers/core.js');
  const db = await ownDatabase(t);
  const controller = await SessionController.create<{ id: { userId: string; sessionKey: string } }>({
    database: db.option(),
    identify: (ctx) => ctx.id,
    api: { maxCallsPerRequest: 3 },
  });
  t.teardown(() => controller.close());
  const context = { id: { userId: 'alice', sessionKey: newKey('alice') } };
  await controller.openSession(context.id);
  const calls = await Promise.allSettled(Array.from({ length: 5 }, () => controller.api.activeSessions(context, {})));
  t.deepEqual(
    calls.map((c) =>
      c.status === 'fulfilled' ? 'ok' : (c.reason as { extensions: { code: string } }).extensions.code,
    ),
    ['ok', 'ok', 'ok', 'COST_LIMIT_EXCEEDED', 'COST_LIMIT_EXCEEDED'],
  );
  const other = { id: context.id };
  t.is((await controller.api.activeSessions(other, {})).totalCount, 1, 'another request has a bound of its own');
});
