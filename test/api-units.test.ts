/** The session API's pure parts alone: cursors, argument checks, authorization rules. */
import test from 'ava';
import { GraphQLError } from 'graphql';
import * as args from '../src/api/arguments.js';
import { accessTo, revokeReasonFor } from '../src/api/authorization.js';
import { decodeCursor, encodeCursor } from '../src/api/cursor.js';

const position = { createdAt: '2026-11-25T16:45:50.123456Z', id: '4f9c1e2a-7b3d-4c5e-9f10-2a3b4c5d6e7f' };

test('a cursor round-trips its position to the microsecond', (t) => {
  const cursor = encodeCursor(position);
  t.regex(cursor, /^[A-Za-z0-9_-]+$/);
  t.deepEqual(decodeCursor(cursor), position);
});

test('decodeCursor refuses anything it did not issue', (t) => {
  const b64 = (text: string) => Buffer.from(text).toString('base64url');
  const cursor = encodeCursor(position);
  for (const bad of [
    '',
    'x',
    `${cursor}=`,
    `${cursor}.`,
    cursor.toUpperCase(),
    b64(`v2|${position.createdAt}|${position.id}`),
    b64(`v1|${position.createdAt}|${position.id}|extra`),
    b64(`v1|2026-11-25T16:45:50.123Z|${position.id}`),
    b64(`v1|2026-11-25 16:45:50.123456+00|${position.id}`),
    b64(`v1|2026-02-30T00:00:00.000000Z|${position.id}`),
    b64(`v1|2026-01-01T24:00:00.000000Z|${position.id}`),
    b64(`v1|1969-12-31T23:59:59.999999Z|${position.id}`),
    b64(`v1|${position.createdAt}|${position.id.toUpperCase()}`),
    b64(`v1|${position.createdAt}|not-a-uuid`),
    'A'.repeat(500),
  ]) {
    t.is(decodeCursor(bad), null, bad);
  }
});

function refusal(run: () => unknown): { argument: unknown; message: string } {
  try {
    run();
  } catch (error) {
    if (!(error instanceof GraphQLError)) throw error;
    return { argument: error.extensions.argument, message: error.message };
  }
  throw new Error('expected a refusal');
}

test('page size: 1..100, default 20', (t) => {
  t.is(args.pageSize('first', undefined), 20);
  t.is(args.pageSize('first', null), 20);
  t.is(args.pageSize('first', 1), 1);
  t.is(args.pageSize('first', 100), 100);
  for (const bad of [0, 101, -5, 1.5, Number.NaN]) t.is(refusal(() => args.pageSize('first', bad)).argument, 'first');
});

test('session ids are UUIDs, lower-cased', (t) => {
  t.is(args.sessionId('id', position.id.toUpperCase()), position.id);
  for (const bad of ['', 'abc', `${position.id}0`, `{${position.id}}`, position.id.replace(/-/g, '')]) {
    t.is(refusal(() => args.sessionId('id', bad)).argument, 'id');
  }
});

test('reasons: at most 200 characters, blank means none, no NUL or broken Unicode', (t) => {
  t.is(args.reason('reason', undefined), null);
  t.is(args.reason('reason', '   '), null);
  t.is(args.reason('reason', 'x'.repeat(200)), 'x'.repeat(200));
  t.is(refusal(() => args.reason('reason', 'x'.repeat(201))).argument, 'reason');
  t.is(refusal(() => args.reason('reason', 'a\u0000')).argument, 'reason');
  t.is(refusal(() => args.reason('reason', 'a\ud800b')).argument, 'reason');
  t.is(args.reason('reason', 'ok 🚀'), 'ok 🚀');
});

test('subjects and user ids: 1..255 characters', (t) => {
  t.is(args.subject('subject', 's'.repeat(255)), 's'.repeat(255));
  t.is(refusal(() => args.subject('subject', '')).argument, 'subject');
  t.is(refusal(() => args.subject('subject', 's'.repeat(256))).argument, 'subject');
  t.is(refusal(() => args.userId('userId', '')).argument, 'userId');
  t.is(args.userId('userId', 'alice'), 'alice');
});

test('maxSessions: whole numbers >= 0, null or omitted for unlimited', (t) => {
  t.is(args.maxSessions('maxSessions', undefined), null);
  t.is(args.maxSessions('maxSessions', null), null);
  t.is(args.maxSessions('maxSessions', 0), 0);
  t.is(refusal(() => args.maxSessions('maxSessions', -1)).argument, 'maxSessions');
  t.regex(refusal(() => args.maxSessions('maxSessions', -1)).message, /"maxSessions"/);
});

test('authorization: own, admin on others, nobody else', (t) => {
  t.is(accessTo('alice', 'alice', false), 'OWN');
  t.is(accessTo('alice', 'alice', true), 'OWN');
  t.is(accessTo('root', 'alice', true), 'ADMIN');
  t.is(accessTo('bob', 'alice', false), 'NONE');
  t.is(revokeReasonFor('OWN'), 'REVOKED');
  t.is(revokeReasonFor('ADMIN'), 'ADMIN_REVOKED');
});
