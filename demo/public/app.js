/**
 * The demo's web page (docs/contract.md §9): sign in, your devices (live through
 * `sessionEvents`), and for admins all sessions, the stats and the limit rules. Everything goes
 * through the public GraphQL API (graphql.js); every server string reaches the DOM as text (dom.js).
 */
import { deviceCell, deviceName, el, fromTemplate, refreshTimes, say, statusCell, timeAgo, timeAt } from './dom.js';
import { ApiError, request, SIGNED_OUT_CODES, subscribe } from './graphql.js';
import * as op from './operations.js';

/** sessionStorage: a reload stays signed in, a new tab or a closed browser does not. */
const STORAGE_KEY = 'graphql-session-controller-demo';

const main = document.getElementById('main');
const header = {
  who: document.getElementById('who'),
  user: document.getElementById('who-user'),
  admin: document.getElementById('who-admin'),
  signOut: document.getElementById('sign-out'),
};

/**
 * The signed-in state, or null on the sign-in form: { token, userId, sessionId, ended,
 * stopLive, devices: { rows, total, endCursor, hasNextPage }, ui, admin }.
 */
let account = null;

header.signOut.addEventListener('click', () => void signOutHere());
setInterval(refreshTimes, 30_000);

const saved = readSaved();
if (saved) void enter(saved);
else showSignIn();

// ---------------------------------------------------------------------------------------------
// Signing in and out
// ---------------------------------------------------------------------------------------------

function readSaved() {
  try {
    const value = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? 'null');
    return typeof value?.token === 'string' ? value : null;
  } catch {
    return null;
  }
}

/** Why the page is back on the sign-in form, from an error code and its detail (a close reason's too). */
function farewell(code, detail) {
  if (code === 'SESSION_REVOKED') {
    switch (detail) {
      case 'REVOKED':
        return 'You were signed out from another device.';
      case 'ADMIN_REVOKED':
        return 'An administrator signed you out.';
      case 'EVICTED':
        return 'You were signed out: a newer sign-in to your account took this session’s place.';
      case 'LOGOUT':
        return 'You signed out.';
      default:
        return 'Your session was ended.';
    }
  }
  if (code === 'SESSION_EXPIRED') {
    return detail === 'IDLE'
      ? 'Your session expired: it was not used for too long.'
      : 'Your session expired: it reached its maximum lifetime.';
  }
  return 'Your sign-in is no longer valid. Please sign in again.';
}

function showSignIn(notice) {
  header.who.hidden = true;
  header.admin.hidden = true;
  document.title = 'Sign in · graphql-session-controller demo';
  const view = fromTemplate('sign-in-view');
  const form = view.querySelector('[data-sign-in-form]');
  const noticeBox = view.querySelector('[data-notice]');
  const errorBox = view.querySelector('[data-error]');
  say(noticeBox, notice);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    errorBox.hidden = true;
    try {
      const { login } = await request(op.LOGIN, {
        username: form.elements.username.value.trim(),
        password: form.elements.password.value,
      });
      await enter({ token: login.token, userId: login.session.userId, sessionId: login.session.id });
    } catch (error) {
      noticeBox.hidden = true;
      showError(errorBox, error);
      form.elements.password.select();
    } finally {
      button.disabled = false;
    }
  });
  main.replaceChildren(view);
  form.elements.username.focus();
}

/** The error's message, and its code beside it (e.g. SESSION_LIMIT_EXCEEDED). */
function showError(box, error) {
  const message = box.querySelector('[data-error-message]');
  const code = box.querySelector('[data-error-code]');
  const text = error instanceof ApiError ? error.message : 'Something went wrong. Please try again.';
  if (message && code) {
    message.textContent = text;
    say(code, error instanceof ApiError ? error.code : null);
  } else {
    box.textContent = error instanceof ApiError && error.code ? `${text} (${error.code})` : text;
  }
  box.hidden = false;
}

/** Ends this page's signed-in state (the session is over, or the user signed out) and shows why. */
function endSession(mine, reason) {
  if (mine.ended) return;
  mine.ended = true;
  mine.stopLive?.();
  if (account !== mine) return;
  account = null;
  sessionStorage.removeItem(STORAGE_KEY);
  showSignIn(reason);
}

async function signOutHere() {
  const mine = account;
  if (!mine || mine.ended) return;
  header.signOut.disabled = true;
  // Stop listening first: the socket's close (4401 SESSION_REVOKED:LOGOUT) is this page's own doing.
  mine.stopLive?.();
  try {
    await request(op.LOGOUT, {}, mine.token);
  } catch {
    // Already over (revoked, expired): signed out either way.
  } finally {
    header.signOut.disabled = false;
  }
  endSession(mine, 'You signed out.');
}

/**
 * One operation as the signed-in user. An answer saying the session is over (revoked, expired,
 * unknown token) takes the page back to the sign-in form; the error is thrown either way.
 */
async function api(mine, query, variables) {
  try {
    return await request(query, variables, mine.token);
  } catch (error) {
    if (error instanceof ApiError && SIGNED_OUT_CODES.has(error.code)) {
      endSession(mine, farewell(error.code, error.extensions.reason));
    }
    throw error;
  }
}

/** Shows an error in a card, unless the page has left the account (endSession said why). */
function report(mine, box, error) {
  if (mine.ended) return;
  showError(box, error);
}

// ---------------------------------------------------------------------------------------------
// Your devices
// ---------------------------------------------------------------------------------------------

async function enter(session) {
  const mine = { ...session, ended: false, stopLive: null, admin: null };
  account = mine;
  sessionStorage.setItem(
    STORAGE_KEY,
    JSON.stringify({ token: mine.token, userId: mine.userId, sessionId: mine.sessionId }),
  );
  let first;
  try {
    first = await api(mine, op.DEVICES);
  } catch (error) {
    // A session that is over has been handled by api(); anything else: back to the form, saying so.
    if (!mine.ended) endSession(mine, error instanceof ApiError ? error.message : 'Cannot load your devices.');
    return;
  }
  if (mine.ended) return;
  mine.userId = first.me ?? mine.userId;
  mine.devices = { rows: [], total: 0, endCursor: null, hasNextPage: false };
  acceptPage(mine.devices, first.activeSessions, true);
  renderAccount(mine);
  startLive(mine);
  void showAdmin(mine);
}

function acceptPage(list, page, reset) {
  const nodes = page.edges.map((edge) => edge.node);
  list.rows = reset ? nodes : [...list.rows, ...nodes.filter((node) => !list.rows.some((row) => row.id === node.id))];
  list.total = page.totalCount;
  list.endCursor = page.pageInfo.endCursor;
  list.hasNextPage = page.pageInfo.hasNextPage;
}

function renderAccount(mine) {
  header.user.textContent = mine.userId;
  header.who.hidden = false;
  document.title = `${mine.userId} · graphql-session-controller demo`;
  const view = fromTemplate('account-view');
  mine.ui = {
    rows: view.querySelector('[data-devices]'),
    summary: view.querySelector('[data-devices-summary]'),
    flash: view.querySelector('[data-devices-flash]'),
    live: view.querySelector('[data-live]'),
    others: view.querySelector('[data-sign-out-others]'),
    more: view.querySelector('[data-devices-more]'),
  };
  mine.ui.others.addEventListener('click', () => void signOutOthers(mine));
  mine.ui.more.addEventListener('click', () => void moreDevices(mine));
  renderDevices(mine);
  main.replaceChildren(view);
}

function isCurrent(mine, session) {
  return session.id === mine.sessionId || session.current;
}

function renderDevices(mine) {
  const { rows, total, hasNextPage } = mine.devices;
  mine.ui.summary.textContent =
    total === 1 ? 'Signed in on this device only.' : `Signed in on ${total} devices, this one included.`;
  mine.ui.others.disabled = total <= 1;
  mine.ui.more.hidden = !hasNextPage;
  mine.ui.rows.replaceChildren(
    ...rows.map((session) => {
      const current = isCurrent(mine, session);
      const signOut = current
        ? null
        : el(
            'button',
            {
              type: 'button',
              class: 'button button-danger button-small',
              onclick: (event) => void signOutDevice(mine, session, event.currentTarget),
            },
            'Sign out',
          );
      return el(
        'tr',
        { class: current ? 'is-current' : null, 'data-session': session.id },
        el('td', {}, deviceCell(session, current ? el('span', { class: 'badge badge-current' }, 'This device') : null)),
        el('td', { class: 'mono' }, session.ipAddress ?? '—'),
        el('td', {}, timeAt(session.createdAt)),
        el('td', {}, timeAgo(session.lastSeenAt)),
        el('td', { class: 'actions' }, signOut),
      );
    }),
  );
  if (rows.length === 0) {
    mine.ui.rows.replaceChildren(el('tr', {}, el('td', { class: 'empty', colspan: 5 }, 'No active sessions.')));
  }
}

/** A success line above the table, or an error; it goes after a while. */
function flash(mine, text, isError = false) {
  const box = mine.ui.flash;
  box.className = isError ? 'error' : 'flash';
  say(box, text);
  clearTimeout(mine.flashTimer);
  mine.flashTimer = setTimeout(() => say(box, null), 8_000);
}

function failed(mine, error) {
  if (!mine.ended)
    flash(
      mine,
      error instanceof ApiError && error.code ? `${error.message} (${error.code})` : String(error.message),
      true,
    );
}

async function reloadDevices(mine) {
  try {
    const page = await api(mine, op.DEVICES);
    if (mine.ended) return;
    acceptPage(mine.devices, page.activeSessions, true);
    renderDevices(mine);
  } catch (error) {
    failed(mine, error);
  }
}

async function moreDevices(mine) {
  mine.ui.more.disabled = true;
  try {
    const page = await api(mine, op.DEVICES, { after: mine.devices.endCursor });
    if (mine.ended) return;
    acceptPage(mine.devices, page.activeSessions, false);
    renderDevices(mine);
  } catch (error) {
    failed(mine, error);
  } finally {
    mine.ui.more.disabled = false;
  }
}

function dropDevice(mine, id) {
  const before = mine.devices.rows.length;
  mine.devices.rows = mine.devices.rows.filter((row) => row.id !== id);
  if (mine.devices.rows.length < before) mine.devices.total -= 1;
}

async function signOutDevice(mine, session, button) {
  button.disabled = true;
  try {
    await api(mine, op.REVOKE_SESSION, { id: session.id });
    if (mine.ended) return;
    dropDevice(mine, session.id);
    renderDevices(mine);
    flash(mine, `Signed out ${deviceName(session)}.`);
    void refreshAdmin(mine);
  } catch (error) {
    button.disabled = false;
    failed(mine, error);
  }
}

async function signOutOthers(mine) {
  mine.ui.others.disabled = true;
  try {
    const { revokeOtherSessions: count } = await api(mine, op.REVOKE_OTHER_SESSIONS);
    if (mine.ended) return;
    mine.devices.rows = mine.devices.rows.filter((row) => isCurrent(mine, row));
    mine.devices.total = mine.devices.rows.length;
    mine.devices.hasNextPage = false;
    renderDevices(mine);
    flash(mine, count === 1 ? 'Signed out 1 other device.' : `Signed out ${count} other devices.`);
    void refreshAdmin(mine);
  } catch (error) {
    mine.ui.others.disabled = false;
    failed(mine, error);
  }
}

// ---------------------------------------------------------------------------------------------
// Live: sessionEvents over graphql-ws
// ---------------------------------------------------------------------------------------------

function startLive(mine) {
  const setLive = (text, live) => {
    mine.ui.live.textContent = text;
    mine.ui.live.classList.toggle('is-live', live);
  };
  mine.stopLive = subscribe(mine.token, op.SESSION_EVENTS, {
    connected: () => {
      if (mine.ended) return;
      setLive('Live', true);
      // Whatever happened while the socket was away (or before it opened) shows now.
      void reloadDevices(mine);
    },
    closed: ({ code, reason }) => {
      if (mine.ended) return;
      // docs/contract.md §8: 4401 with SESSION_REVOKED:<reason>, SESSION_EXPIRED:<reason> or UNAUTHENTICATED.
      if (code === 4401) {
        const [errorCode, detail] = reason.split(':');
        endSession(mine, farewell(errorCode, detail));
      } else {
        setLive('Reconnecting…', false);
      }
    },
    next: (data) => onSessionEvent(mine, data.sessionEvents),
    error: (error) => {
      if (SIGNED_OUT_CODES.has(error.code)) endSession(mine, farewell(error.code, error.extensions.reason));
      else if (!mine.ended) setLive(`Live updates unavailable: ${error.message}`, false);
    },
  });
}

function onSessionEvent(mine, event) {
  if (mine.ended || !event) return;
  const { type, reason, session } = event;
  if (session.id === mine.sessionId && type !== 'ADMITTED') {
    endSession(mine, farewell(type === 'EXPIRED' ? 'SESSION_EXPIRED' : 'SESSION_REVOKED', reason));
    return;
  }
  if (type === 'ADMITTED') {
    if (!mine.devices.rows.some((row) => row.id === session.id)) {
      mine.devices.rows.unshift(session);
      mine.devices.total += 1;
      flash(mine, `New sign-in: ${deviceName(session)}.`);
    }
  } else {
    dropDevice(mine, session.id);
  }
  renderDevices(mine);
  // An admin's own sign-ins and revocations change the stats and the list of all sessions too.
  if (mine.admin) {
    void refreshAdmin(mine);
    void loadAll(mine, true);
  }
}

// ---------------------------------------------------------------------------------------------
// Administration: stats, all sessions, limit rules (admins only)
// ---------------------------------------------------------------------------------------------

/** Asks for the admin-only overview; FORBIDDEN means this user is not an admin, and nothing more shows. */
async function showAdmin(mine) {
  let overview;
  try {
    overview = await api(mine, op.OVERVIEW);
  } catch (error) {
    if (!(error instanceof ApiError && error.code === 'FORBIDDEN')) failed(mine, error);
    return;
  }
  if (mine.ended) return;
  header.admin.hidden = false;
  const view = fromTemplate('admin-view');
  const admin = {
    stats: view.querySelectorAll('[data-stat]'),
    rules: view.querySelector('[data-rules]'),
    rulesError: view.querySelector('[data-rules-error]'),
    ruleForm: view.querySelector('[data-rule-form]'),
    all: view.querySelector('[data-all]'),
    allSummary: view.querySelector('[data-all-summary]'),
    allError: view.querySelector('[data-all-error]'),
    allMore: view.querySelector('[data-all-more]'),
    filterForm: view.querySelector('[data-filter-form]'),
    filter: {},
    list: { rows: [], total: 0, endCursor: null, hasNextPage: false },
  };
  mine.admin = admin;
  renderOverview(mine, overview);
  view.querySelector('[data-refresh]').addEventListener('click', () => {
    void refreshAdmin(mine);
    void loadAll(mine, true);
  });
  admin.filterForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const user = admin.filterForm.elements.user.value.trim();
    const status = admin.filterForm.elements.status.value;
    admin.filter = { ...(user ? { userId: user } : {}), ...(status ? { status: [status] } : {}) };
    void loadAll(mine, true);
  });
  admin.allMore.addEventListener('click', () => void loadAll(mine, false));
  admin.ruleForm.addEventListener('submit', (event) => {
    event.preventDefault();
    void saveRule(mine);
  });
  main.append(view);
  await loadAll(mine, true);
}

function renderOverview(mine, { sessionStats, sessionLimitRules }) {
  const admin = mine.admin;
  for (const dd of admin.stats) {
    const value = sessionStats[dd.dataset.stat];
    dd.textContent = value === null || value === undefined ? 'None' : value.toLocaleString();
  }
  admin.rules.replaceChildren(
    ...sessionLimitRules.map((rule) =>
      el(
        'tr',
        {},
        el('td', {}, el('span', { class: 'badge' }, rule.subjectType === 'USER' ? 'User' : 'Group')),
        el('td', { class: 'mono' }, rule.subject),
        el('td', {}, rule.maxSessions === null ? 'Unlimited' : String(rule.maxSessions)),
        el(
          'td',
          { class: 'actions' },
          el('button', { type: 'button', class: 'button button-small', onclick: () => editRule(mine, rule) }, 'Edit'),
          ' ',
          el(
            'button',
            {
              type: 'button',
              class: 'button button-danger button-small',
              onclick: (event) => void removeRule(mine, rule, event.currentTarget),
            },
            'Remove',
          ),
        ),
      ),
    ),
  );
  if (sessionLimitRules.length === 0) {
    admin.rules.replaceChildren(
      el('tr', {}, el('td', { class: 'empty', colspan: 4 }, 'No rules: every user has the default limit.')),
    );
  }
}

/** Stats and rules again, after something changed them. */
async function refreshAdmin(mine) {
  if (!mine.admin) return;
  try {
    const overview = await api(mine, op.OVERVIEW);
    if (!mine.ended) renderOverview(mine, overview);
  } catch (error) {
    report(mine, mine.admin.rulesError, error);
  }
}

async function loadAll(mine, reset) {
  const admin = mine.admin;
  admin.allMore.disabled = true;
  admin.allError.hidden = true;
  try {
    const { sessions } = await api(mine, op.ALL_SESSIONS, {
      filter: admin.filter,
      after: reset ? null : admin.list.endCursor,
    });
    if (mine.ended) return;
    acceptPage(admin.list, sessions, reset);
    renderAll(mine);
  } catch (error) {
    report(mine, admin.allError, error);
  } finally {
    admin.allMore.disabled = false;
  }
}

function renderAll(mine) {
  const { list, all, allMore, allSummary } = mine.admin;
  allSummary.textContent = `${list.total.toLocaleString()} session${list.total === 1 ? '' : 's'}, newest first${
    list.rows.length < list.total ? ` (showing ${list.rows.length})` : ''
  }.`;
  allMore.hidden = !list.hasNextPage;
  all.replaceChildren(...list.rows.map((session) => allRow(mine, session)));
  if (list.rows.length === 0) {
    all.replaceChildren(el('tr', {}, el('td', { class: 'empty', colspan: 7 }, 'No sessions match.')));
  }
}

function allRow(mine, session) {
  let action = null;
  if (session.current) action = el('span', { class: 'badge badge-current' }, 'This device');
  else if (session.status === 'ACTIVE') {
    action = el(
      'button',
      {
        type: 'button',
        class: 'button button-danger button-small',
        onclick: (event) => void adminRevoke(mine, session, event.currentTarget),
      },
      'Revoke',
    );
  }
  return el(
    'tr',
    { 'data-session': session.id },
    el('td', { class: 'mono' }, session.userId),
    el('td', {}, deviceCell(session, null)),
    el('td', { class: 'mono' }, session.ipAddress ?? '—'),
    el('td', {}, statusCell(session)),
    el('td', {}, timeAt(session.createdAt)),
    el('td', {}, timeAgo(session.lastSeenAt)),
    el('td', { class: 'actions' }, action),
  );
}

async function adminRevoke(mine, session, button) {
  button.disabled = true;
  try {
    const { revokeSession } = await api(mine, op.REVOKE_SESSION, { id: session.id });
    if (mine.ended) return;
    const list = mine.admin.list;
    list.rows = list.rows.map((row) => (row.id === revokeSession.id ? revokeSession : row));
    renderAll(mine);
    if (revokeSession.userId === mine.userId) {
      dropDevice(mine, revokeSession.id);
      renderDevices(mine);
    }
    void refreshAdmin(mine);
  } catch (error) {
    button.disabled = false;
    report(mine, mine.admin.allError, error);
  }
}

function editRule(mine, rule) {
  const form = mine.admin.ruleForm.elements;
  form.subjectType.value = rule.subjectType;
  form.subject.value = rule.subject;
  form.maxSessions.value = rule.maxSessions === null ? '' : String(rule.maxSessions);
  form.maxSessions.focus();
  form.maxSessions.select();
}

async function saveRule(mine) {
  const admin = mine.admin;
  const form = admin.ruleForm.elements;
  const max = form.maxSessions.value.trim();
  const button = admin.ruleForm.querySelector('button[type="submit"]');
  admin.rulesError.hidden = true;
  button.disabled = true;
  try {
    await api(mine, op.SET_LIMIT, {
      subjectType: form.subjectType.value,
      subject: form.subject.value.trim(),
      maxSessions: max === '' ? null : Number(max),
    });
    if (mine.ended) return;
    admin.ruleForm.reset();
    await refreshAdmin(mine);
  } catch (error) {
    report(mine, admin.rulesError, error);
  } finally {
    button.disabled = false;
  }
}

async function removeRule(mine, rule, button) {
  button.disabled = true;
  mine.admin.rulesError.hidden = true;
  try {
    await api(mine, op.REMOVE_LIMIT, { subjectType: rule.subjectType, subject: rule.subject });
    await refreshAdmin(mine);
  } catch (error) {
    button.disabled = false;
    report(mine, mine.admin.rulesError, error);
  }
}
