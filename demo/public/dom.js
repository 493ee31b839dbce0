/**
 * DOM helpers. Server strings only ever become text nodes or attribute values: nothing here
 * parses HTML.
 */

/** An element with attributes, event listeners (`onclick`, …) and children (strings become text). */
export function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  element.append(...children.flat().filter((child) => child !== null && child !== undefined && child !== false));
  return element;
}

/** A copy of one of index.html's templates. */
export function fromTemplate(id) {
  return document.getElementById(id).content.cloneNode(true);
}

/** Shows `text` in `element`, or hides it when there is none. */
export function say(element, text) {
  element.textContent = text ?? '';
  element.hidden = !text;
}

const DEVICE_TYPES = new Set(['desktop', 'mobile', 'tablet', 'bot', 'unknown']);

/** The icon of a device type (SessionDeviceType), from index.html's templates. */
export function deviceIcon(type) {
  const name = DEVICE_TYPES.has(type) ? type : 'unknown';
  return document.getElementById('device-icons').content.querySelector(`[data-icon="${name}"]`).cloneNode(true);
}

/** "Chrome 120 on Windows 10", from the session's `device` (read by the server from its user agent). */
export function deviceName(session) {
  const parts = session.device ? [session.device.browser, session.device.os].filter(Boolean) : [];
  if (parts.length > 0) return parts.join(' on ');
  return session.userAgent ? 'Unknown device' : 'Unknown device (no user agent)';
}

/** The device cell: icon, name, an optional badge, and the raw user agent below. */
export function deviceCell(session, badge) {
  return el(
    'div',
    { class: 'device' },
    deviceIcon(session.device?.type ?? 'unknown'),
    el(
      'div',
      { class: 'device-text' },
      el('span', { class: 'device-name' }, deviceName(session), badge),
      session.userAgent ? el('span', { class: 'device-agent', title: session.userAgent }, session.userAgent) : null,
    ),
  );
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const thisYear = new Intl.DateTimeFormat(undefined, {
  month: 'short',
  day: 'numeric',
  hour: 'numeric',
  minute: '2-digit',
});
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

/** "5 minutes ago"; "just now" under 45 seconds (and for a clock a little ahead of the browser's). */
export function since(date, now = Date.now()) {
  const seconds = (now - date.getTime()) / 1000;
  if (seconds < 45) return 'just now';
  if (seconds < 3_600) return relative.format(-Math.max(1, Math.round(seconds / 60)), 'minute');
  if (seconds < 86_400) return relative.format(-Math.round(seconds / 3_600), 'hour');
  return relative.format(-Math.round(seconds / 86_400), 'day');
}

/** A date and time, e.g. "May 12, 10:32 AM"; the year only when it is not this one. */
export function timeAt(iso) {
  const date = new Date(iso);
  const format = date.getFullYear() === new Date().getFullYear() ? thisYear : dateTime;
  return el('time', { datetime: iso, title: date.toString() }, format.format(date));
}

/** A relative time, kept current by refreshTimes(). */
export function timeAgo(iso) {
  const date = new Date(iso);
  return el('time', { datetime: iso, title: dateTime.format(date), 'data-relative': true }, since(date));
}

export function refreshTimes() {
  for (const time of document.querySelectorAll('time[data-relative]'))
    time.textContent = since(new Date(time.dateTime));
}

const STATUS_BADGES = { ACTIVE: 'Active', REVOKED: 'Revoked', EXPIRED: 'Expired' };

/** A session's status as a badge, with why it ended below. */
export function statusCell(session) {
  const badge = el(
    'span',
    { class: `badge badge-${String(session.status).toLowerCase()}` },
    STATUS_BADGES[session.status] ?? String(session.status),
  );
  return [badge, session.status === 'REVOKED' ? el('span', { class: 'secondary' }, endedBy(session)) : null];
}

function endedBy(session) {
  switch (session.revokedReason) {
    case 'LOGOUT':
      return 'Signed out';
    case 'EVICTED':
      return 'Evicted by a newer sign-in';
    case 'ADMIN_REVOKED':
      return `Ended by ${session.revokedBy ?? 'an administrator'}`;
    case 'REVOKED':
      return `Ended by ${session.revokedBy ?? 'the user'}`;
    default:
      return session.revokedReason ?? '';
  }
}
