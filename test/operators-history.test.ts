/**
 * The operators' view of sessions (docs/contract.md §9, issue 12 items 1–3): `sessions` over every
 * status within retention, for a user and for an admin's whole fleet, its filters, keyset pages
 * and authorization; `revokedBy` from every way a session ends; `device` from the user agent.
 * Through a real Apollo server, for both ways a host builds its schema.
 */
import test from 'ava';
import type { GraphQLClient } from 'graphql-request';
import type { RevokeEvent } from '../src/hooks.js';
import {
  type ApiServer,
  admit,
  newKey,
  REVOKE,
  REVOKE_OTHERS,
  REVOKE_USER,
  SCHEMA_STYLES,
  startApiServer,
} from './helpers/api.js';
import { internalsOf } from './helpers/internals.js';
import { failure } from './helpers/server.js';

const NODE = /* GraphQL */ `id userId status current ipAddress userAgent revokedAt revokedReason revokedNote revokedBy device { browser os type }`;

const SESSIONS = /* GraphQL */ `
  query History($filter: SessionFilter, $first: Int, $after: String) {
    sessions(filter: $filter, first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { cursor node { ${NODE} } }
    }
  }
`;

/** The same without `totalCount`: counting is a query of its own, made only when asked. */
const SESSIONS_UNCOUNTED = /* GraphQL */ `
  query History($filter: SessionFilter, $first: Int, $after: String) {
    sessions(filter: $filter, first: $first, after: $after) { pageInfo { hasNextPage endCursor } edges { node { id } } }
  }
`;

interface Node {
  id: string;
  userId: string;
  status: string;
  current: boolean;
  ipAddress: string | null;
  userAgent: string | null;
  revokedAt: string | null;
  revokedReason: string | null;
  revokedNote: string | null;
  revokedBy: string | null;
  device: { browser: string | null; os: string | null; type: string } | null;
}

interface Page {
  totalCount: number;
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  edges: Array<{ cursor: string; node: Node }>;
}

interface Filter {
  userId?: string;
  status?: string[];
  ipAddress?: string;
}

async function history(
  client: GraphQLClient,
  variables: { filter?: Filter; first?: number; after?: string } = {},
): Promise<Page> {
  return (await client.request<{ sessions: Page }>(SESSIONS, variables)).sessions;
}

const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0';
const IPHONE =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1';
const IPAD =
  'Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1';
const GOOGLEBOT = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';
const WINDOWS_CHROME =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';

let runs = 0;

for (const style of SCHEMA_STYLES) {
  const revokeEvents: RevokeEvent[] = [];
  let server: ApiServer | undefined;
  const teardowns: Array<() => unknown> = [];
  test.before(async () => {
    server = await startApiServer({ teardown: (fn) => teardowns.unshift(fn) }, style, {
      // Users named capped-… may hold two sessions, and a third evicts the oldest.
      user: { onLimit: 'EVICT_OLDEST' },
      limitFor: (identity) => (identity.userId.startsWith('capped-') ? 2 : undefined),
      retention: '30d',
      onRevoke: (event) => revokeEvents.push(event),
    });
  });
  test.after.always(async () => {
    for (const fn of teardowns) await fn();
  });
  test.after(`${style}: no response carried a session key or its digest`, (t) => {
    t.deepEqual(server!.recorder.leaks(), []);
  });
  const s = () => server!;

  /** Fresh user ids per test, so the tests of one server run concurrently without seeing each other. */
  function people() {
    runs += 1;
    const n = `${style === 'type-graphql' ? 't' : 's'}${runs}`;
    return { alice: `alice-${n}`, bob: `bob-${n}`, root: `root-${n}`, capped: `capped-${n}`, ip: `10.${runs}.0.1` };
  }

  /** Opens a session the way a login would (with a user agent and an address); its key is remembered for the leak scan. */
  async function open(userId: string, userAgent: string | null = null, ip: string | null = '127.0.0.1') {
    const sessionKey = newKey(userId);
    s().recorder.remember(sessionKey);
    const session = await s().controller.openSession({ userId, sessionKey, userAgent, ip });
    return { id: session.id, sessionKey, client: s().as(userId, sessionKey) };
  }

  /** Ages a session past its idle timeout (30 min by default), as the database clock sees it. */
  function expire(id: string): Promise<unknown> {
    return internalsOf(s().controller).sql.all(
      "update gsc_session set last_seen_at = now() - interval '1 hour', created_at = created_at - interval '1 hour' where id = ?",
      [id],
    );
  }

  test(`${style}: a user's history holds every status, newest first, with who revoked and the device`, async (t) => {
    const p = people();
    const old = await open(p.alice, FIREFOX);
    const phone = await open(p.alice, IPHONE);
    const current = await open(p.alice, WINDOWS_CHROME);
    await open(p.bob, IPAD);
    await expire(old.id);
    await current.client.request(REVOKE, { id: phone.id, reason: 'lost it' });

    const page = await history(current.client);
    t.deepEqual(
      page.edges.map((e) => e.node.id),
      [current.id, phone.id, old.id],
    );
    t.deepEqual(
      page.edges.map((e) => e.node.status),
      ['ACTIVE', 'REVOKED', 'EXPIRED'],
    );
    t.deepEqual(
      page.edges.map((e) => e.node.current),
      [true, false, false],
    );
    t.is(page.totalCount, 3);
    t.false(page.pageInfo.hasNextPage);
    t.like(page.edges[1].node, { revokedReason: 'REVOKED', revokedNote: 'lost it', revokedBy: p.alice });
    t.is(page.edges[0].node.revokedBy, null);
    t.deepEqual(
      page.edges.map((e) => e.node.device),
      [
        { browser: 'Chrome 120', os: 'Windows 10', type: 'desktop' },
        { browser: 'Safari 17.1', os: 'iOS 17.1', type: 'mobile' },
        { browser: 'Firefox 121', os: 'Linux', type: 'desktop' },
      ],
    );
    // Passing one's own id is the same as omitting it.
    t.deepEqual(
      (await history(current.client, { filter: { userId: p.alice } })).edges.map((e) => e.node.id),
      [current.id, phone.id, old.id],
    );
  });

  test(`${style}: another user's history is FORBIDDEN to a user; an admin sees every user's, and one user's with userId`, async (t) => {
    const p = people();
    const alice = await open(p.alice, IPAD, p.ip);
    const bob = await open(p.bob, GOOGLEBOT, p.ip);
    const root = s().as(p.root, newKey('root'), ['admin']);
    const rootId = await admit(root);

    const forbidden = await failure(alice.client.request(SESSIONS, { filter: { userId: p.bob } }));
    t.is(forbidden.code, 'FORBIDDEN');

    // The fleet, newest first: every user's sessions (other tests add theirs meanwhile).
    const fleet = await history(root, { first: 100 });
    const mine = fleet.edges.map((e) => e.node).filter((n) => [rootId, bob.id, alice.id].includes(n.id));
    t.deepEqual(
      mine.map((n) => n.id),
      [rootId, bob.id, alice.id],
    );
    t.true(fleet.totalCount >= 3);
    t.deepEqual(mine[1].device, { browser: 'Googlebot 2.1', os: null, type: 'bot' });
    t.deepEqual(mine[2].device, { browser: 'Safari 16.6', os: 'iOS 16.6', type: 'tablet' });

    const bobs = await history(root, { filter: { userId: p.bob } });
    t.deepEqual(
      bobs.edges.map((e) => e.node.id),
      [bob.id],
    );
    t.is(bobs.totalCount, 1);
    // By address, across users.
    const byIp = await history(root, { filter: { ipAddress: p.ip } });
    t.deepEqual(
      byIp.edges.map((e) => e.node.id),
      [bob.id, alice.id],
    );
    t.is(byIp.totalCount, 2);
    const byIpAndUser = await history(root, { filter: { ipAddress: p.ip, userId: p.alice } });
    t.deepEqual(
      byIpAndUser.edges.map((e) => e.node.id),
      [alice.id],
    );
  });

  test(`${style}: the status filter keeps any of the statuses named`, async (t) => {
    const p = people();
    const root = s().as(p.root, newKey('root'), ['admin']);
    const active = await open(p.alice, null, p.ip);
    const revoked = await open(p.alice, null, p.ip);
    const expired = await open(p.bob, null, p.ip);
    await s().controller.revoke(revoked.id, { reason: 'ADMIN_REVOKED', note: 'audit' });
    await expire(expired.id);
    const ids = async (status: string[]) =>
      (await history(root, { filter: { ipAddress: p.ip, status } })).edges
        .map((e) => e.node.id)
        .filter((id) => [active.id, revoked.id, expired.id].includes(id));
    t.deepEqual(await ids(['ACTIVE']), [active.id]);
    t.deepEqual(await ids(['REVOKED']), [revoked.id]);
    t.deepEqual(await ids(['EXPIRED']), [expired.id]);
    // Newest first; expiring it moved the expired one an hour back.
    t.deepEqual(await ids(['REVOKED', 'EXPIRED']), [revoked.id, expired.id]);
    t.deepEqual(await ids(['ACTIVE', 'REVOKED', 'EXPIRED']), [revoked.id, active.id, expired.id]);
    t.deepEqual(await ids([]), []);
    const alices = await history(root, { filter: { userId: p.alice, status: ['ACTIVE', 'ACTIVE'] } });
    t.deepEqual(
      alices.edges.map((e) => e.node.id),
      [active.id],
    );
    t.is(alices.totalCount, 1);
    // Revoked by code without a caller: no one.
    const node = (await history(root, { filter: { userId: p.alice, status: ['REVOKED'] } })).edges[0].node;
    t.like(node, { revokedReason: 'ADMIN_REVOKED', revokedNote: 'audit', revokedBy: null });
  });

  test(`${style}: pages walk the history without repeats or gaps while sessions come and go`, async (t) => {
    const p = people();
    const opened: string[] = [];
    for (let i = 0; i < 7; i++) opened.push((await open(p.alice, null, p.ip)).id);
    const root = s().as(p.root, newKey('root'), ['admin']);
    const seen: string[] = [];
    let after: string | undefined;
    for (let pageNo = 0; ; pageNo++) {
      const page = await history(root, { filter: { userId: p.alice }, first: 3, ...(after ? { after } : {}) });
      t.is(page.totalCount, 7 + pageNo);
      seen.push(...page.edges.map((e) => e.node.id));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor!;
      // A newer session after the first page does not shift the walk; an older one revoked stays listed.
      opened.push((await open(p.alice, null, p.ip)).id);
      await s().controller.revoke(opened[0], { reason: 'REVOKED' });
    }
    t.deepEqual(seen, opened.slice(0, 7).reverse());
    // Without totalCount the page is the same.
    const uncounted = await root.request<{ sessions: { edges: Array<{ node: { id: string } }> } }>(SESSIONS_UNCOUNTED, {
      filter: { userId: p.alice },
      first: 2,
    });
    t.is(uncounted.sessions.edges.length, 2);
  });

  test(`${style}: rows past retention are not shown, even before the pruner deletes them`, async (t) => {
    const p = people();
    const root = s().as(p.root, newKey('root'), ['admin']);
    const kept = await open(p.alice);
    const gone = await open(p.alice);
    await s().controller.revoke(kept.id, { reason: 'REVOKED' });
    await s().controller.revoke(gone.id, { reason: 'REVOKED' });
    await internalsOf(s().controller).sql.all(
      "update gsc_session set revoked_at = now() - interval '31 days' where id = ?",
      [gone.id],
    );
    const page = await history(root, { filter: { userId: p.alice } });
    t.deepEqual(
      page.edges.map((e) => e.node.id),
      [kept.id],
    );
    t.is(page.totalCount, 1);
  });

  test(`${style}: revokedBy names the caller for every API revocation, and no one for an eviction; onRevoke hears it`, async (t) => {
    const p = people();
    const root = s().as(p.root, newKey('root'), ['admin']);
    // Two sessions at most for this user, with EVICT_OLDEST: a third session evicts the first.
    const a1 = await open(p.capped);
    const a2 = await open(p.capped);
    const a3 = await open(p.capped);
    await a3.client.request(REVOKE_OTHERS);
    const b1 = await open(p.bob);
    const b2 = await open(p.bob);
    await root.request(REVOKE, { id: b1.id });
    await root.request(REVOKE_USER, { userId: p.bob, reason: 'offboarding' });

    const rows = new Map<string, Node>();
    for (const userId of [p.capped, p.bob]) {
      for (const e of (await history(root, { filter: { userId } })).edges) rows.set(e.node.id, e.node);
    }
    t.like(rows.get(a1.id), { revokedReason: 'EVICTED', revokedBy: null });
    t.like(rows.get(a2.id), { revokedReason: 'REVOKED', revokedBy: p.capped });
    t.like(rows.get(a3.id), { status: 'ACTIVE', revokedBy: null });
    t.like(rows.get(b1.id), { revokedReason: 'ADMIN_REVOKED', revokedBy: p.root });
    t.like(rows.get(b2.id), { revokedReason: 'ADMIN_REVOKED', revokedNote: 'offboarding', revokedBy: p.root });

    const heard = (id: string) => revokeEvents.find((e) => e.sessions.some((x) => x.id === id));
    t.like(heard(a1.id), { reason: 'EVICTED', revokedBy: null });
    t.like(heard(a2.id), { reason: 'REVOKED', revokedBy: p.capped });
    t.like(heard(b2.id), { reason: 'ADMIN_REVOKED', revokedBy: p.root });
    t.is(heard(b2.id)!.sessions[0].revokedBy, p.root);
    // From TypeScript: by whom the host says.
    const a4 = await open(p.alice);
    const revoked = await s().controller.revoke(a4.id, { reason: 'LOGOUT', by: p.alice });
    t.like(revoked, { revokedReason: 'LOGOUT', revokedBy: p.alice });
    t.like(heard(a4.id), { reason: 'LOGOUT', revokedBy: p.alice });
  });

  test(`${style}: malformed arguments are BAD_USER_INPUT naming them; anonymous is UNAUTHENTICATED`, async (t) => {
    const p = people();
    const alice = (await open(p.alice)).client;
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ first: 0 }, 'first'],
      [{ first: 101 }, 'first'],
      [{ after: 'not-a-cursor' }, 'after'],
      [{ filter: { userId: '' } }, 'filter.userId'],
      [{ filter: { ipAddress: '' } }, 'filter.ipAddress'],
      [{ filter: { ipAddress: 'x'.repeat(65) } }, 'filter.ipAddress'],
      [{ filter: { ipAddress: 'a\u0000b' } }, 'filter.ipAddress'],
    ];
    for (const [variables, argument] of cases) {
      const f = await failure(alice.request(SESSIONS, variables));
      t.is(`${f.code} ${f.extensions.argument}`, `BAD_USER_INPUT ${argument}`, JSON.stringify(variables));
    }
    const anonymous = await failure(s().as().request(SESSIONS));
    t.is(`${anonymous.code} ${anonymous.status}`, 'UNAUTHENTICATED 401');
  });
}

test('device: no user agent is no device; an HTTP library is an unknown device', async (t) => {
  const { deviceOf } = await import('../src/device.js');
  t.is(deviceOf(null), null);
  t.is(deviceOf(''), null);
  t.deepEqual(deviceOf('curl/8.5.0'), { browser: null, os: null, type: 'unknown' });
  t.deepEqual(
    deviceOf(
      'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36',
    ),
    {
      browser: 'Chrome 120',
      os: 'Android 14',
      type: 'mobile',
    },
  );
  t.is(deviceOf(`${'x'.repeat(600)}`)!.type, 'unknown');
});
