/**
 * Keyset pagination of activeSessions: newest first by (created_at, id), no duplicates or gaps,
 * stable while sessions are admitted or revoked between pages, exact to the microsecond.
 */
import test from 'ava';
import { type ApiServer, admit, list, newKey, REVOKE, useApiServer } from './helpers/api.js';
import { internalsOf } from './helpers/internals.js';

const api = useApiServer(test, 'type-graphql');

let admins = 0;
const admin = () => api().as(`root-${++admins}`, newKey('root'), ['admin']);

async function openSessions(userId: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const key = newKey(userId);
    api().recorder.remember(key);
    ids.push((await api().controller.openSession({ userId, sessionKey: key, userAgent: `device ${i}` })).id);
  }
  return ids;
}

function sql<T>(text: string, params: unknown[] = []): Promise<T[]> {
  return internalsOf(api().controller).sql.all<T>(text, params);
}

/** The order the API promises, straight from the table. */
async function expectedOrder(userId: string): Promise<string[]> {
  const rows = await sql<{ id: string }>(
    'select id from gsc_session where user_id = ? and revoked_at is null order by created_at desc, id desc',
    [userId],
  );
  return rows.map((r) => r.id);
}

/** Walks every page; `between` runs after each page but the last. */
async function walk(
  client: ReturnType<ApiServer['as']>,
  userId: string,
  first: number,
  between?: (page: number) => Promise<void>,
) {
  const pages: Array<Awaited<ReturnType<typeof list>>> = [];
  let after: string | undefined;
  for (;;) {
    const page = await list(client, { userId, first, ...(after ? { after } : {}) });
    pages.push(page);
    if (!page.pageInfo.hasNextPage) return pages;
    after = page.pageInfo.endCursor!;
    if (pages.length > 100) throw new Error('pagination does not end');
    if (between) await between(pages.length);
  }
}

test('45 sessions in pages of 10: five pages, every session once, newest first', async (t) => {
  const userId = 'pager-45';
  const created = await openSessions(userId, 45);
  const pages = await walk(admin(), userId, 10);
  t.deepEqual(
    pages.map((p) => p.edges.length),
    [10, 10, 10, 10, 5],
  );
  t.deepEqual(
    pages.map((p) => p.totalCount),
    [45, 45, 45, 45, 45],
  );
  t.deepEqual(
    pages.map((p) => p.pageInfo.hasNextPage),
    [true, true, true, true, false],
  );
  for (const page of pages) t.is(page.pageInfo.endCursor, page.edges.at(-1)!.cursor);
  const ids = pages.flatMap((p) => p.edges.map((e) => e.node.id));
  t.is(new Set(ids).size, 45);
  t.deepEqual(ids, await expectedOrder(userId));
  t.deepEqual([...ids].sort(), [...created].sort());
  // Newest first: created one after the other, so the last opened comes first.
  t.is(ids[0], created[created.length - 1]);
  t.is(ids.at(-1), created[0]);
  // Continuing from any edge's cursor gives what follows it.
  const middle = pages[1].edges[3];
  const rest = await list(admin(), { userId, first: 5, after: middle.cursor });
  t.deepEqual(
    rest.edges.map((e) => e.node.id),
    ids.slice(14, 19),
  );
});

test('a user pages through its own sessions and finds the current one exactly once', async (t) => {
  const userId = 'pager-own';
  await openSessions(userId, 12);
  const me = api().as(userId, newKey('own'));
  const mine = await admit(me);
  const pages = await walk(me, userId, 5);
  const nodes = pages.flatMap((p) => p.edges.map((e) => e.node));
  t.is(nodes.length, 13);
  t.deepEqual(
    nodes.filter((n) => n.current).map((n) => n.id),
    [mine],
  );
});

test('sessions admitted between pages: the walk still returns every earlier session exactly once', async (t) => {
  const userId = 'pager-growing';
  const before = await openSessions(userId, 30);
  const added: string[] = [];
  const pages = await walk(admin(), userId, 7, async () => {
    added.push(...(await openSessions(userId, 3)));
  });
  const ids = pages.flatMap((p) => p.edges.map((e) => e.node.id));
  t.is(new Set(ids).size, ids.length, 'no duplicates');
  t.deepEqual(ids.filter((id) => before.includes(id)).sort(), [...before].sort());
  // Newer sessions sort before the cursor, so a walk already under way does not see them.
  t.deepEqual(
    ids.filter((id) => added.includes(id)),
    [],
  );
  // The totals follow the growth.
  t.true(pages.at(-1)!.totalCount > pages[0].totalCount);
  t.is(pages.at(-1)!.totalCount, 30 + added.length);
});

test('sessions revoked between pages are skipped, never repeated', async (t) => {
  const userId = 'pager-shrinking';
  const created = await openSessions(userId, 20);
  const root = admin();
  const order = await expectedOrder(userId);
  // Revoke one from the page already read and one not yet read, after the first page.
  const pages = await walk(root, userId, 6, async (n) => {
    if (n === 1) {
      await root.request(REVOKE, { id: order[2] });
      await root.request(REVOKE, { id: order[15] });
    }
  });
  const ids = pages.flatMap((p) => p.edges.map((e) => e.node.id));
  t.is(new Set(ids).size, ids.length);
  t.deepEqual(
    ids,
    order.filter((id) => id !== order[15]),
  );
  t.is(created.length, 20);
});

test('sessions created in the same microsecond are told apart by id', async (t) => {
  const userId = 'pager-ties';
  // One statement: every row gets the same now(), to the microsecond.
  await sql(
    `insert into gsc_session (id, user_id, key_hash)
     select gen_random_uuid(), ?, md5(random()::text) || md5(random()::text) from generate_series(1, 17)`,
    [userId],
  );
  const created = await sql<{ n: string }>(
    'select count(distinct created_at) as n from gsc_session where user_id = ?',
    [userId],
  );
  t.is(Number(created[0].n), 1);
  for (const first of [1, 4, 16, 17]) {
    const ids = (await walk(admin(), userId, first)).flatMap((p) => p.edges.map((e) => e.node.id));
    t.deepEqual(ids, await expectedOrder(userId), `first: ${first}`);
  }
});

test('sessions created within one millisecond keep their microsecond order', async (t) => {
  const userId = 'pager-micro';
  // Six sessions within the same millisecond: a cursor rounded to milliseconds would skip or repeat them.
  for (let us = 1; us <= 6; us++) {
    await sql(
      `insert into gsc_session (id, user_id, key_hash, created_at, last_seen_at)
       values (gen_random_uuid(), ?, md5(random()::text) || md5(random()::text),
               date_trunc('milliseconds', now()) + (? * interval '1 microsecond'), now())`,
      [userId, us],
    );
  }
  const pages = await walk(admin(), userId, 1);
  const ids = pages.flatMap((p) => p.edges.map((e) => e.node.id));
  t.is(ids.length, 6);
  t.deepEqual(ids, await expectedOrder(userId));
});
