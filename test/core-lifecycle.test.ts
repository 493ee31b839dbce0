import test from 'ava';
import type { RevokeEvent } from '../src/hooks.js';
import { hashSessionKey } from '../src/identity.js';
import {
  countLive,
  countRows,
  eventually,
  outcome,
  query,
  serve,
  serveAlone,
  sharedDatabase,
  sleep,
} from './helpers/core.js';
import { failure } from './helpers/server.js';

interface Whoami {
  whoami: string | null;
}

// Tests that measure time run serially (ava runs them first, alone in this process), so another
// test starting its embedded database cannot stall the event loop under their timers.

const sessionId = async (request: Promise<Whoami>) => (await request).whoami!.split(':')[1];

test('a revoked session gets SESSION_REVOKED 401 with its reason, and its key is never admitted again', async (t) => {
  const revokes: RevokeEvent[] = [];
  const s = await serveAlone(t, { user: { maxSessions: 1 }, onRevoke: (e) => revokes.push(e) });
  const id = await sessionId(s.client('alice', 'k1').request('{ whoami }'));

  const revoked = await s.controller.revoke(id, { reason: 'REVOKED', note: 'stolen laptop' });
  t.like(revoked, { id, userId: 'alice', revokedReason: 'REVOKED', revokedNote: 'stolen laptop' });
  for (let i = 0; i < 2; i++) {
    t.like(await failure(s.client('alice', 'k1').request('{ hello }')), {
      code: 'SESSION_REVOKED',
      status: 401,
      extensions: { reason: 'REVOKED' },
    });
  }
  await t.throwsAsync(s.controller.openSession({ userId: 'alice', sessionKey: 'k1' }), { message: /revoked/ });
  t.is(await countRows(s.controller, 'key_hash = ?', [hashSessionKey('k1')]), 1, 'no second row for the key');

  // Revoking again changes nothing and reports nothing.
  t.like(await s.controller.revoke(id, { reason: 'ADMIN_REVOKED' }), { revokedReason: 'REVOKED' });
  t.is(revokes.length, 1);
  t.is(await s.controller.revoke('00000000-0000-4000-8000-000000000000'), null);

  // Its place under the cap is free again.
  await s.client('alice', 'k2').request('{ hello }');
  t.is(await countLive(s.controller, 'alice'), 1);
});

test('revokeUser ends every session of a user with its reason (ADMIN_REVOKED by default, LOGOUT…)', async (t) => {
  const s = await serveAlone(t, {});
  for (const key of ['a1', 'a2', 'a3']) await s.client('alice', key).request('{ hello }');
  await s.client('bob', 'b1').request('{ hello }');
  const keep = await sessionId(s.client('alice', 'a3').request('{ whoami }'));

  const ended = await s.controller.revokeUser('alice', { reason: 'LOGOUT', except: keep });
  t.is(ended.length, 2);
  t.like(await failure(s.client('alice', 'a1').request('{ hello }')), {
    code: 'SESSION_REVOKED',
    extensions: { reason: 'LOGOUT' },
  });
  t.like(await failure(s.client('alice', 'a2').request('{ hello }')), {
    code: 'SESSION_REVOKED',
    extensions: { reason: 'LOGOUT' },
  });
  t.is(await outcome(s.client('alice', 'a3').request('{ hello }')), 'ok', 'the excepted session goes on');

  t.is((await s.controller.revokeUser('alice')).length, 1);
  t.like(await failure(s.client('alice', 'a3').request('{ hello }')), { extensions: { reason: 'ADMIN_REVOKED' } });
  t.is(await outcome(s.client('bob', 'b1').request('{ hello }')), 'ok', 'other users are untouched');
  const reasons = await query<{ revoked_reason: string }>(
    s.controller,
    "select revoked_reason from gsc_session where user_id = 'alice' order by revoked_reason",
  );
  t.deepEqual(
    reasons.map((r) => r.revoked_reason),
    ['ADMIN_REVOKED', 'LOGOUT', 'LOGOUT'],
  );
});

test.serial(
  'an idle session expires with SESSION_EXPIRED 401 (IDLE); use keeps it alive; it is never admitted again',
  async (t) => {
    const s = await serveAlone(t, { idleTimeout: 1_500, touchInterval: 50, user: { maxSessions: 1 } });
    const id = await sessionId(s.client('alice', 'k1').request('{ whoami }'));
    // Used every 250 ms for 3 s, twice the idle timeout: still the same session. The use over
    // real time is the behaviour, so the pauses are durations.
    for (let i = 0; i < 12; i++) {
      await sleep(250);
      t.is(await sessionId(s.client('alice', 'k1').request('{ whoami }')), id);
    }
    // Real time past the idle timeout: the instance judges idleness from its cached copy and its
    // reading of the database clock, which an aged row would not reach; polling would be a use.
    await sleep(2_000);
    for (let i = 0; i < 2; i++) {
      t.like(await failure(s.client('alice', 'k1').request('{ hello }')), {
        code: 'SESSION_EXPIRED',
        status: 401,
        extensions: { reason: 'IDLE' },
      });
    }
    await t.throwsAsync(s.controller.openSession({ userId: 'alice', sessionKey: 'k1' }), { message: /expired/ });
    t.is(await countRows(s.controller), 1);
    // An expired session no longer holds a place under the cap.
    t.regex((await s.client('alice', 'k2').request<Whoami>('{ whoami }')).whoami!, /^alice:/);
  },
);

test.serial(
  'a short idleTimeout alone (touchInterval left at its default) still keeps a used session alive',
  async (t) => {
    const s = await serveAlone(t, { idleTimeout: 1_500 });
    const id = await sessionId(s.client('alice', 'k1').request('{ whoami }'));
    for (let i = 0; i < 12; i++) {
      await sleep(250); // use spread over twice the idle timeout: the duration is the behaviour
      t.is(await outcome(s.client('alice', 'k1').request('{ hello }')), 'ok', `after ${(i + 1) * 250} ms of use`);
    }
    t.is(await sessionId(s.client('alice', 'k1').request('{ whoami }')), id);
  },
);

test.serial(
  'a session older than absoluteTimeout expires with SESSION_EXPIRED (ABSOLUTE) however active',
  async (t) => {
    const s = await serveAlone(t, {
      idleTimeout: null,
      absoluteTimeout: 1_200,
      touchInterval: 50,
      app: { maxSessions: 1 },
    });
    await s.client('alice', 'k1').request('{ hello }');
    const outcomes: string[] = [];
    const started = Date.now();
    while (Date.now() - started < 1_800) {
      outcomes.push(await outcome(s.client('alice', 'k1').request('{ hello }')));
      await sleep(100); // steady use across the absolute timeout: the duration is the behaviour
    }
    // It worked while young, then failed for good: never a success after the first failure.
    const firstFailure = outcomes.indexOf('SESSION_EXPIRED 401');
    t.true(firstFailure > 0, outcomes.join(', '));
    t.deepEqual(
      outcomes.slice(firstFailure),
      outcomes.slice(firstFailure).map(() => 'SESSION_EXPIRED 401'),
    );
    t.like(await failure(s.client('alice', 'k1').request('{ hello }')), { extensions: { reason: 'ABSOLUTE' } });
    // The app seat it held is free: an expired session is not counted.
    t.is(await outcome(s.client('bob', 'b1').request('{ hello }')), 'ok');
  },
);

test.serial('activity on one instance keeps a session alive on another', async (t) => {
  const database = await sharedDatabase(t);
  const options = { database, idleTimeout: 1_000, touchInterval: 50 };
  const a = await serve(t, options);
  const b = await serve(t, options);
  const id = await sessionId(a.client('alice', 'k1').request('{ whoami }'));
  // Only b sees the session for 1.5 s; a's cached copy looks idle by then.
  for (let i = 0; i < 6; i++) {
    await sleep(250); // use spread over 1.5 s, past a's idle timeout: the duration is the behaviour
    await b.client('alice', 'k1').request('{ hello }');
  }
  t.is(await sessionId(a.client('alice', 'k1').request('{ whoami }')), id);
});

test.serial('a revocation on one instance reaches the others within the sync bound', async (t) => {
  const database = await sharedDatabase(t);
  const a = await serve(t, { database });
  const b = await serve(t, { database });
  const id = await sessionId(a.client('alice', 'k1').request('{ whoami }'));
  t.is(await sessionId(b.client('alice', 'k1').request('{ whoami }')), id, 'both instances now serve it from memory');

  await a.controller.revoke(id, { reason: 'ADMIN_REVOKED' });
  const started = Date.now();
  const seen = await eventually(async () => {
    const o = await outcome(b.client('alice', 'k1').request('{ hello }'));
    return o === 'ok' ? undefined : o;
  }, 1_500);
  t.is(seen, 'SESSION_REVOKED 401');
  t.log(`revocation seen by the other instance after ${Date.now() - started} ms`);
  t.like(await failure(b.client('alice', 'k1').request('{ hello }')), { extensions: { reason: 'ADMIN_REVOKED' } });
});
