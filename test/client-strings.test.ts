import test from 'ava';
import type { GraphQLClient } from 'graphql-request';
import { list, newKey, type SessionView, useApiServer } from './helpers/api.js';
import { failure } from './helpers/server.js';

/*
 * Issue 9, item 7: a 513-character User-Agent failed the login with a fake 503 ("value too long
 * for type character varying(512)"). Every stored client string is bounded before it reaches
 * SQL: truncated to its column's limit (migrations/Migration20261125164550_initial.ts):
 *
 *   gsc_session.user_agent   varchar(512)   Identity.userAgent
 *   gsc_session.ip_address   varchar(64)    Identity.ip
 *   gsc_session.revoked_note varchar(200)   revoke(id, reason, note) / revokeUser(..., note)
 *
 * revoked_note is already cut today (in UTF-16 units); its tests guard that, and the last one
 * shows the cut splitting a character. (user_id is validated, never truncated: cutting a user id would merge two users. The session
 * API's `reason` argument is refused over 200 characters with BAD_USER_INPUT, as documented.)
 * varchar(n) counts characters (code points), not UTF-16 units nor bytes.
 */

const USER_AGENT_LIMIT = 512;
const IP_LIMIT = 64;
const NOTE_LIMIT = 200;

const api = useApiServer(test, 'type-graphql');

type Stored = { outcome: 'ok'; session: SessionView } | { outcome: string; session?: undefined };

/** Makes a request as this client (admitting its session) and reads back what was stored. */
async function storedFor(client: GraphQLClient): Promise<Stored> {
  try {
    const page = await list(client, { first: 100 });
    const session = page.edges.find((e) => e.node.current)?.node;
    if (!session) throw new Error('the admitted session is not listed as current');
    return { outcome: 'ok', session };
  } catch (error) {
    const refused = await failure(Promise.reject(error));
    return { outcome: `${refused.code} ${refused.status}: ${refused.message}` };
  }
}

const codePoints = (s: string) => [...s].length;
/** The first `n` characters (code points), as varchar(n) counts them. */
const firstCharacters = (s: string, n: number) => [...s].slice(0, n).join('');

/** A request with this User-Agent or client address is admitted, and stores `expected`. */
async function requestStores(
  t: import('ava').ExecutionContext,
  header: 'user-agent' | 'x-ip',
  sent: string,
  expected: string,
): Promise<void> {
  const client = api().as(`u-${newKey('user')}`, newKey('strings'), undefined, { [header]: sent });
  const stored = await storedFor(client);
  t.is(stored.outcome, 'ok', `a request sending ${codePoints(sent)} characters as ${header} must be admitted`);
  const field = header === 'user-agent' ? 'userAgent' : 'ipAddress';
  t.is(stored.session![field], expected, `${field} is stored truncated to its column's limit`);
}

// ---------------------------------------------------------------------------------------------
// user_agent varchar(512)
// ---------------------------------------------------------------------------------------------

test('a User-Agent of exactly 512 characters is stored whole', async (t) => {
  const ua = 'U'.repeat(USER_AGENT_LIMIT);
  await requestStores(t, 'user-agent', ua, ua);
});

test('a User-Agent of 513 characters does not fail the request: it is stored cut to 512', async (t) => {
  const ua = `Mozilla/5.0 ${'x'.repeat(USER_AGENT_LIMIT)}`.slice(0, USER_AGENT_LIMIT + 1);
  await requestStores(t, 'user-agent', ua, ua.slice(0, USER_AGENT_LIMIT));
});

test('a User-Agent of 8,000 characters is stored cut to 512', async (t) => {
  const ua = 'y'.repeat(8_000);
  await requestStores(t, 'user-agent', ua, ua.slice(0, USER_AGENT_LIMIT));
});

test('the login path (openSession) with a 513-character userAgent admits, storing 512', async (t) => {
  const ua = 'L'.repeat(USER_AGENT_LIMIT + 1);
  const session = await api()
    .controller.openSession({ userId: 'login-ua', sessionKey: newKey('login-ua'), userAgent: ua })
    .catch((error: Error & { extensions?: { code?: string } }) => {
      t.fail(`openSession failed: ${error.extensions?.code ?? ''} ${error.message}`);
      return undefined;
    });
  t.is(session?.userAgent, ua.slice(0, USER_AGENT_LIMIT));
});

test('a userAgent over 512 characters outside the Basic Multilingual Plane is stored as its first 512 characters', async (t) => {
  // 600 characters, 1,200 UTF-16 units: over the limit in characters, not to be cut mid-character.
  const ua = '\u{1F600}'.repeat(600);
  const session = await api()
    .controller.openSession({ userId: 'login-emoji', sessionKey: newKey('login-emoji'), userAgent: ua })
    .catch((error: Error & { extensions?: { code?: string } }) => {
      t.fail(`openSession failed: ${error.extensions?.code ?? ''} ${error.message}`);
      return undefined;
    });
  t.is(session?.userAgent, firstCharacters(ua, USER_AGENT_LIMIT));
});

// ---------------------------------------------------------------------------------------------
// ip_address varchar(64)
// ---------------------------------------------------------------------------------------------

test('a client address of exactly 64 characters is stored whole', async (t) => {
  const ip = '1'.repeat(IP_LIMIT);
  await requestStores(t, 'x-ip', ip, ip);
});

test('a client address of 65 characters does not fail the request: it is stored cut to 64', async (t) => {
  // e.g. an IPv6 address with a long zone id, as a proxy may hand it over (no trailing space: HTTP trims it)
  const ip = `fe80::1ff:fe23:4567:890a%${'z'.repeat(IP_LIMIT)}`.slice(0, IP_LIMIT + 1);
  await requestStores(t, 'x-ip', ip, ip.slice(0, IP_LIMIT));
});

test('the login path (openSession) with a 65-character ip admits, storing 64', async (t) => {
  const ip = '9'.repeat(IP_LIMIT + 1);
  const session = await api()
    .controller.openSession({ userId: 'login-ip', sessionKey: newKey('login-ip'), ip })
    .catch((error: Error & { extensions?: { code?: string } }) => {
      t.fail(`openSession failed: ${error.extensions?.code ?? ''} ${error.message}`);
      return undefined;
    });
  t.is(session?.ipAddress, ip.slice(0, IP_LIMIT));
});

// ---------------------------------------------------------------------------------------------
// revoked_note varchar(200)
// ---------------------------------------------------------------------------------------------

test('revoke() with a note of exactly 200 characters stores it whole', async (t) => {
  const note = 'n'.repeat(NOTE_LIMIT);
  const session = await api().controller.openSession({ userId: 'note-200', sessionKey: newKey('note-200') });
  const revoked = await api().controller.revoke(session.id, { reason: 'REVOKED', note });
  t.is(revoked?.revokedNote, note);
});

test('revoke() and revokeUser() with a note of 201 characters revoke, storing it cut to 200', async (t) => {
  const note = 'm'.repeat(NOTE_LIMIT + 1);
  const one = await api().controller.openSession({ userId: 'note-201', sessionKey: newKey('note-201') });
  const revoked = await api()
    .controller.revoke(one.id, { reason: 'REVOKED', note })
    .catch((error: Error) => t.fail(`revoke failed: ${error.message}`));
  t.is(revoked ? revoked.revokedNote : undefined, note.slice(0, NOTE_LIMIT));

  await api().controller.openSession({ userId: 'note-201-user', sessionKey: newKey('note-201-user') });
  const all = await api()
    .controller.revokeUser('note-201-user', { reason: 'ADMIN_REVOKED', note })
    .catch((error: Error) => t.fail(`revokeUser failed: ${error.message}`));
  t.deepEqual(all ? all.map((s) => s.revokedNote) : undefined, [note.slice(0, NOTE_LIMIT)]);
});

test('a note within 200 characters but over 200 UTF-16 units is stored whole, not cut mid-character', async (t) => {
  // 101 characters, 201 UTF-16 units: the column holds it.
  const note = `a${'\u{1F600}'.repeat(100)}`;
  const session = await api().controller.openSession({ userId: 'note-emoji', sessionKey: newKey('note-emoji') });
  const revoked = await api()
    .controller.revoke(session.id, { reason: 'REVOKED', note })
    .catch((error: Error) => t.fail(`revoke failed: ${error.message}`));
  t.is(revoked ? revoked.revokedNote : undefined, note);
});

test('a NUL character in userAgent or ip (PostgreSQL text cannot hold one) does not fail the login: it is dropped', async (t) => {
  const session = await api()
    .controller.openSession({
      userId: 'login-nul',
      sessionKey: newKey('login-nul'),
      userAgent: 'Mozilla\u0000/5.0',
      ip: '10.0.0.1\u0000',
    })
    .catch((error: Error & { extensions?: { code?: string } }) => {
      t.fail(`openSession failed: ${error.extensions?.code ?? ''} ${error.message}`);
      return undefined;
    });
  t.is(session?.userAgent, 'Mozilla/5.0');
  t.is(session?.ipAddress, '10.0.0.1');
});
