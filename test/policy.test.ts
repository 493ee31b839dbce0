import test from 'ava';
import {
  type AdmissionInput,
  decideAdmission,
  expiresAt,
  type LimitSources,
  resolveUserLimit,
  sessionState,
} from '../src/policy/admission.js';

// ---------------------------------------------------------------- limit resolution (docs/contract.md rule 2)

const none: LimitSources = { fromOption: undefined, userRule: undefined, groupRules: [], defaultUserLimit: 2 };

test('limit: user.maxSessions when nothing more specific exists', (t) => {
  t.is(resolveUserLimit(none), 2);
  t.is(resolveUserLimit({ ...none, defaultUserLimit: null }), null);
});

test('limit: limitFor wins over a user rule, group rules and the default', (t) => {
  const all: LimitSources = {
    fromOption: 5,
    userRule: { maxSessions: 1 },
    groupRules: [{ maxSessions: 9 }],
    defaultUserLimit: 2,
  };
  t.is(resolveUserLimit(all), 5);
  t.is(resolveUserLimit({ ...all, fromOption: 0 }), 0, 'limitFor may forbid every session');
});

test('limit: limitFor null or Infinity means unlimited, whatever the rules say', (t) => {
  const rules: LimitSources = {
    fromOption: null,
    userRule: { maxSessions: 1 },
    groupRules: [{ maxSessions: 1 }],
    defaultUserLimit: 1,
  };
  t.is(resolveUserLimit(rules), null);
  t.is(resolveUserLimit({ ...rules, fromOption: Infinity }), null);
});

test('limit: limitFor undefined falls through to the stored rules', (t) => {
  t.is(resolveUserLimit({ ...none, fromOption: undefined, userRule: { maxSessions: 4 } }), 4);
});

test('limit: odd numbers from limitFor become whole, non-negative limits', (t) => {
  t.is(resolveUserLimit({ ...none, fromOption: 2.9 }), 2);
  t.is(resolveUserLimit({ ...none, fromOption: -1 }), 0);
});

test('limit: a user rule wins over group rules and the default', (t) => {
  t.is(resolveUserLimit({ ...none, userRule: { maxSessions: 1 }, groupRules: [{ maxSessions: 10 }] }), 1);
  t.is(resolveUserLimit({ ...none, userRule: { maxSessions: 7 }, groupRules: [{ maxSessions: 1 }] }), 7);
  t.is(
    resolveUserLimit({ ...none, userRule: { maxSessions: null }, groupRules: [{ maxSessions: 1 }] }),
    null,
    'a user rule of null is an explicit "unlimited", not "no rule"',
  );
});

test('limit: the most permissive group rule wins over the default', (t) => {
  t.is(resolveUserLimit({ ...none, groupRules: [{ maxSessions: 1 }, { maxSessions: 3 }, { maxSessions: 2 }] }), 3);
  t.is(
    resolveUserLimit({ ...none, defaultUserLimit: 10, groupRules: [{ maxSessions: 1 }] }),
    1,
    'a group rule may be stricter than the default',
  );
  t.is(
    resolveUserLimit({ ...none, groupRules: [{ maxSessions: 1 }, { maxSessions: null }] }),
    null,
    'an unlimited group is the most permissive',
  );
  t.is(resolveUserLimit({ ...none, groupRules: [{ maxSessions: 0 }] }), 0);
});

// ---------------------------------------------------------------- admission (docs/contract.md rules 3 and 4)

const base: AdmissionInput = {
  policy: 'REJECT_NEW',
  exempt: false,
  userLimit: 2,
  userActive: 0,
  appLimit: null,
  appActive: 0,
};

test('admission: below every cap admits and evicts nobody', (t) => {
  for (const policy of ['REJECT_NEW', 'EVICT_OLDEST', 'LOG_ONLY'] as const) {
    t.deepEqual(decideAdmission({ ...base, policy, userActive: 1, appLimit: 10, appActive: 9 }), {
      outcome: 'ADMIT',
      evict: 0,
    });
  }
  t.deepEqual(decideAdmission({ ...base, userLimit: null, userActive: 1000 }), { outcome: 'ADMIT', evict: 0 });
});

test('admission: REJECT_NEW refuses at the user cap', (t) => {
  t.deepEqual(decideAdmission({ ...base, userActive: 2 }), { outcome: 'REJECT', level: 'USER', limit: 2 });
  t.deepEqual(decideAdmission({ ...base, userActive: 5 }), { outcome: 'REJECT', level: 'USER', limit: 2 });
  t.deepEqual(decideAdmission({ ...base, userLimit: 0 }), { outcome: 'REJECT', level: 'USER', limit: 0 });
});

test('admission: EVICT_OLDEST evicts just enough to admit one more', (t) => {
  const evict = { ...base, policy: 'EVICT_OLDEST' } as const;
  t.deepEqual(decideAdmission({ ...evict, userActive: 2 }), { outcome: 'ADMIT', evict: 1 });
  // Over the cap already (e.g. the limit was lowered): back down to the limit, new one included.
  t.deepEqual(decideAdmission({ ...evict, userActive: 4 }), { outcome: 'ADMIT', evict: 3 });
  t.deepEqual(decideAdmission({ ...evict, userLimit: 1, userActive: 1 }), { outcome: 'ADMIT', evict: 1 });
});

test('admission: EVICT_OLDEST with a limit of 0 refuses (evicting cannot make room)', (t) => {
  t.deepEqual(decideAdmission({ ...base, policy: 'EVICT_OLDEST', userLimit: 0, userActive: 3 }), {
    outcome: 'REJECT',
    level: 'USER',
    limit: 0,
  });
});

test('admission: LOG_ONLY admits over the user cap and says which cap it passed', (t) => {
  t.deepEqual(decideAdmission({ ...base, policy: 'LOG_ONLY', userActive: 2 }), {
    outcome: 'ADMIT',
    evict: 0,
    overLimit: { level: 'USER', limit: 2 },
  });
});

test('admission: the app cap only ever rejects, whatever the user policy', (t) => {
  for (const policy of ['REJECT_NEW', 'EVICT_OLDEST', 'LOG_ONLY'] as const) {
    t.deepEqual(decideAdmission({ ...base, policy, userActive: 0, appLimit: 3, appActive: 3 }), {
      outcome: 'REJECT',
      level: 'APP',
      limit: 3,
    });
  }
  t.deepEqual(decideAdmission({ ...base, appLimit: 0, appActive: 0 }), { outcome: 'REJECT', level: 'APP', limit: 0 });
});

test('admission: a user over its cap with LOG_ONLY is still refused by a full app', (t) => {
  t.deepEqual(decideAdmission({ ...base, policy: 'LOG_ONLY', userActive: 2, appLimit: 5, appActive: 5 }), {
    outcome: 'REJECT',
    level: 'APP',
    limit: 5,
  });
});

test('admission: a seat freed by eviction counts toward the app cap', (t) => {
  // The user's own eviction makes room in a full app: one out, one in.
  t.deepEqual(decideAdmission({ ...base, policy: 'EVICT_OLDEST', userActive: 2, appLimit: 5, appActive: 5 }), {
    outcome: 'ADMIT',
    evict: 1,
  });
});

test('admission: the user cap is reported before the app cap when both are full', (t) => {
  t.deepEqual(decideAdmission({ ...base, userActive: 2, appLimit: 2, appActive: 2 }), {
    outcome: 'REJECT',
    level: 'USER',
    limit: 2,
  });
});

test('admission: exempt identities are admitted whatever the caps', (t) => {
  for (const policy of ['REJECT_NEW', 'EVICT_OLDEST', 'LOG_ONLY'] as const) {
    t.deepEqual(
      decideAdmission({ ...base, policy, exempt: true, userLimit: 0, userActive: 9, appLimit: 0, appActive: 9 }),
      {
        outcome: 'ADMIT',
        evict: 0,
      },
    );
  }
});

// ---------------------------------------------------------------- session state (docs/contract.md §2 "Status")

const t0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const at = (offsetMs: number) => new Date(t0 + offsetMs);
const timeouts = { idleTimeoutMs: 1_000, absoluteTimeoutMs: 10_000 };
const fresh = { createdAt: at(0), lastSeenAt: at(0), revokedAt: null, revokedReason: null };

test('state: a fresh session is active', (t) => {
  t.deepEqual(sessionState(fresh, t0 + 999, timeouts), { status: 'ACTIVE' });
});

test('state: idle for idleTimeout is expired (IDLE); activity keeps it alive', (t) => {
  t.deepEqual(sessionState(fresh, t0 + 1_000, timeouts), { status: 'EXPIRED', reason: 'IDLE' });
  t.deepEqual(sessionState({ ...fresh, lastSeenAt: at(5_000) }, t0 + 5_500, timeouts), { status: 'ACTIVE' });
});

test('state: older than absoluteTimeout is expired (ABSOLUTE) however active', (t) => {
  t.deepEqual(sessionState({ ...fresh, lastSeenAt: at(10_000) }, t0 + 10_000, timeouts), {
    status: 'EXPIRED',
    reason: 'ABSOLUTE',
  });
});

test('state: the absolute lifetime wins over idleness', (t) => {
  t.deepEqual(sessionState(fresh, t0 + 20_000, timeouts), { status: 'EXPIRED', reason: 'ABSOLUTE' });
});

test('state: revoked wins over expired, and keeps its reason', (t) => {
  const revoked = { ...fresh, revokedAt: at(1), revokedReason: 'EVICTED' as const };
  t.deepEqual(sessionState(revoked, t0 + 2, timeouts), { status: 'REVOKED', reason: 'EVICTED' });
  t.deepEqual(sessionState(revoked, t0 + 60_000, timeouts), { status: 'REVOKED', reason: 'EVICTED' });
  t.deepEqual(sessionState({ ...revoked, revokedReason: null }, t0 + 2, timeouts), {
    status: 'REVOKED',
    reason: 'REVOKED',
  });
});

test('state: null timeouts never expire', (t) => {
  t.deepEqual(sessionState(fresh, t0 + 10 * 365 * 86_400_000, { idleTimeoutMs: null, absoluteTimeoutMs: null }), {
    status: 'ACTIVE',
  });
});

test('expiresAt: the earlier of idle and absolute expiry, or null', (t) => {
  t.deepEqual(expiresAt({ createdAt: at(0), lastSeenAt: at(500) }, timeouts), at(1_500));
  t.deepEqual(expiresAt({ createdAt: at(0), lastSeenAt: at(9_500) }, timeouts), at(10_000));
  t.deepEqual(
    expiresAt({ createdAt: at(0), lastSeenAt: at(0) }, { idleTimeoutMs: null, absoluteTimeoutMs: 10_000 }),
    at(10_000),
  );
  t.is(expiresAt({ createdAt: at(0), lastSeenAt: at(0) }, { idleTimeoutMs: null, absoluteTimeoutMs: null }), null);
});
