import test from 'ava';
import type { AdmitEvent, RevokeEvent } from '../src/hooks.js';
import { countLive, eventually, outcome, query, serve, serveAlone, sharedDatabase, sleep } from './helpers/core.js';
import { failure, type RunningServer } from './helpers/server.js';

// The tests that depend on "least recently seen" run serially (first, alone in this process):
// last-seen is written in batches every `touchInterval`; a test waits until the database has it.

interface Whoami {
  whoami: string | null;
}

const TOUCH_MS = 20;
/** Real time past the touch interval, as an instance's memory measures it: the next use is a touch. */
const pastTouchInterval = () => sleep(3 * TOUCH_MS);

async function use(server: RunningServer, user: string, key: string): Promise<string> {
  const { whoami } = await server.client(user, key).request<Whoami>('{ whoami }');
  return whoami!.split(':')[1];
}

/** Waits until the database has `recent` seen after `older`: the batched touch was written. */
async function seenAfter(server: RunningServer, recent: string, older: string): Promise<void> {
  await eventually(async () => {
    const [row] = await query<{ later: boolean }>(
      server.controller,
      `select (select last_seen_at from gsc_session where id = ?) > (select last_seen_at from gsc_session where id = ?) as later`,
      [recent, older],
    );
    return row.later ? true : undefined;
  }, 3_000);
}

test.serial(
  'EVICT_OLDEST evicts the least recently seen session, which then gets SESSION_REVOKED (EVICTED)',
  async (t) => {
    const admits: AdmitEvent[] = [];
    const revokes: RevokeEvent[] = [];
    const s = await serveAlone(t, {
      user: { maxSessions: 2, onLimit: 'EVICT_OLDEST' },
      touchInterval: TOUCH_MS,
      onAdmit: (e) => admits.push(e),
      onRevoke: (e) => revokes.push(e),
    });
    const first = await use(s, 'alice', 'k1');
    const second = await use(s, 'alice', 'k2');
    await pastTouchInterval();
    // k1 is the oldest, but it is used again: k2 becomes the least recently seen.
    await use(s, 'alice', 'k1');
    await seenAfter(s, first, second);

    const third = await use(s, 'alice', 'k3');
    t.like(await failure(s.client('alice', 'k2').request('{ hello }')), {
      code: 'SESSION_REVOKED',
      status: 401,
      extensions: { reason: 'EVICTED' },
    });
    t.is(await use(s, 'alice', 'k1'), first);
    t.is(await use(s, 'alice', 'k3'), third);
    const rows = await query<{ id: string; revoked_reason: string | null }>(
      s.controller,
      'select id, revoked_reason from gsc_session order by created_at',
    );
    t.deepEqual(rows, [
      { id: first, revoked_reason: null },
      { id: second, revoked_reason: 'EVICTED' },
      { id: third, revoked_reason: null },
    ]);
    t.deepEqual(
      admits.at(-1)!.evicted.map((e) => e.id),
      [second],
    );
    t.is(revokes.length, 1);
    t.like(revokes[0], { reason: 'EVICTED', note: null });
    t.deepEqual(
      revokes[0].sessions.map((e) => e.id),
      [second],
    );
    // An evicted key stays evicted: using it does not evict anyone else.
    await failure(s.client('alice', 'k2').request('{ hello }'));
    t.is(await countLive(s.controller, 'alice'), 2);
  },
);

test.serial('an eviction on another instance reaches the evicted session within the sync bound', async (t) => {
  const database = await sharedDatabase(t);
  const options = { database, user: { maxSessions: 2, onLimit: 'EVICT_OLDEST' as const }, touchInterval: TOUCH_MS };
  const a = await serve(t, options);
  const b = await serve(t, options);
  const first = await use(a, 'alice', 'k1');
  const second = await use(a, 'alice', 'k2');
  await pastTouchInterval();
  await use(a, 'alice', 'k1');
  await seenAfter(a, first, second);
  // Instance a holds k1 and k2 in memory; the login on b evicts k2 in the database.
  await use(b, 'alice', 'k3');
  const started = Date.now();
  const seen = await eventually(async () => {
    const o = await outcome(a.client('alice', 'k2').request('{ hello }'));
    return o === 'ok' ? undefined : o;
  }, 1_500);
  t.log(`eviction seen on the other instance after ${Date.now() - started} ms`);
  t.is(seen, 'SESSION_REVOKED 401');
  t.like(await failure(a.client('alice', 'k2').request('{ hello }')), { extensions: { reason: 'EVICTED' } });
  t.is(await use(a, 'alice', 'k1'), first);
  t.is(await countLive(a.controller, 'alice'), 2);
});

test('EVICT_OLDEST evicts as many as needed when a limit was lowered', async (t) => {
  let limit = 3;
  const s = await serveAlone(t, { user: { onLimit: 'EVICT_OLDEST' }, limitFor: () => limit });
  for (const key of ['k1', 'k2', 'k3']) await use(s, 'alice', key);
  limit = 1;
  const newest = await use(s, 'alice', 'k4');
  const live = await query<{ id: string }>(
    s.controller,
    "select id from gsc_session where revoked_at is null and user_id = 'alice'",
  );
  t.deepEqual(
    live.map((r) => r.id),
    [newest],
  );
  for (const key of ['k1', 'k2', 'k3']) {
    t.is(await outcome(s.client('alice', key).request('{ hello }')), 'SESSION_REVOKED 401');
  }
});

test("EVICT_OLDEST only evicts the user's own sessions; a full app still refuses other users", async (t) => {
  const s = await serveAlone(t, { app: { maxSessions: 3 }, user: { maxSessions: 2, onLimit: 'EVICT_OLDEST' } });
  await use(s, 'alice', 'a1');
  await use(s, 'alice', 'a2');
  await use(s, 'bob', 'b1');
  // The app is full. Alice at her cap evicts her own oldest to make room: one out, one in.
  await use(s, 'alice', 'a3');
  t.is(await outcome(s.client('alice', 'a1').request('{ hello }')), 'SESSION_REVOKED 401');
  t.is(await outcome(s.client('bob', 'b1').request('{ hello }')), 'ok', "bob's session is never evicted for alice");
  // Carol is under her cap, but the app is full, and the app cap only rejects.
  t.like(await failure(s.client('carol', 'c1').request('{ hello }')), {
    code: 'SESSION_LIMIT_EXCEEDED',
    status: 403,
    extensions: { level: 'APP', limit: 3 },
  });
  t.is(await countLive(s.controller), 3);
});

test('EVICT_OLDEST with a limit of 0 refuses rather than evict', async (t) => {
  const s = await serveAlone(t, { user: { maxSessions: 0, onLimit: 'EVICT_OLDEST' } });
  t.like(await failure(s.client('alice', 'a1').request('{ hello }')), {
    code: 'SESSION_LIMIT_EXCEEDED',
    extensions: { level: 'USER', limit: 0 },
  });
  t.is(await countLive(s.controller), 0);
});
