/**
 * The arguments of `@uniqueSession` / `@UniqueSession()`: their defaults, their validation and
 * their SDL, shared by the decorator, the schema transformer and the printed schema.
 */
import { SessionConfigError } from '../errors.js';
import type { UniqueSessionConfig } from '../policy/lease.js';
import { LIMIT_POLICIES, type LimitPolicy, SESSION_SCOPES, type SessionScope } from '../vocabulary.js';

// The arguments' types live with the lease rules, below the runtime that applies them.
export type { UniqueSessionConfig, UniqueSessionOptions } from '../policy/lease.js';

/** The directive's SDL defaults, in one place. */
const UNIQUE_SESSION_DEFAULTS: Readonly<UniqueSessionConfig> = Object.freeze({
  max: 1,
  scope: 'USER',
  onLimit: 'REJECT_NEW',
  strict: false,
});

/** GraphQL `Int` is 32-bit; a larger `max` could not be written in SDL. */
const MAX_INT = 2_147_483_647;

/**
 * Applies the defaults and validates, so a mistake fails when the schema is built, naming the
 * field (`where`, e.g. `Query.exam` or `ExamResolver.exam`), never at the first request.
 */
export function resolveUniqueSessionConfig(input: unknown, where: string): UniqueSessionConfig {
  const invalid = (problem: string): never => {
    throw new SessionConfigError(`Invalid @uniqueSession on ${where}: ${problem}`);
  };
  if (input === undefined || input === null) return { ...UNIQUE_SESSION_DEFAULTS };
  if (typeof input !== 'object' || Array.isArray(input))
    invalid(`expected an object of arguments, got ${typeof input}.`);
  const given = input as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!(key in UNIQUE_SESSION_DEFAULTS)) invalid(`unknown argument "${key}" (expected max, scope, onLimit, strict).`);
  }
  const max = given.max ?? UNIQUE_SESSION_DEFAULTS.max;
  if (typeof max !== 'number' || !Number.isInteger(max) || max < 1 || max > MAX_INT) {
    invalid(`"max" must be a whole number from 1 to ${MAX_INT}, got ${show(max)}.`);
  }
  const scope = given.scope ?? UNIQUE_SESSION_DEFAULTS.scope;
  if (!SESSION_SCOPES.includes(scope as SessionScope)) {
    invalid(`"scope" must be one of ${SESSION_SCOPES.join(', ')}, got ${show(scope)}.`);
  }
  const onLimit = given.onLimit ?? UNIQUE_SESSION_DEFAULTS.onLimit;
  if (!LIMIT_POLICIES.includes(onLimit as LimitPolicy)) {
    invalid(`"onLimit" must be one of ${LIMIT_POLICIES.join(', ')}, got ${show(onLimit)}.`);
  }
  const strict = given.strict ?? UNIQUE_SESSION_DEFAULTS.strict;
  if (typeof strict !== 'boolean') invalid(`"strict" must be true or false, got ${show(strict)}.`);
  return {
    max: max as number,
    scope: scope as SessionScope,
    onLimit: onLimit as LimitPolicy,
    strict: strict as boolean,
  };
}

function show(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/** The SDL of a directive application, e.g. `@uniqueSession(max: 1, scope: USER, onLimit: REJECT_NEW)`. */
export function uniqueSessionSdl(config: UniqueSessionConfig, directiveName = 'uniqueSession'): string {
  const strict = config.strict ? ', strict: true' : '';
  return `@${directiveName}(max: ${config.max}, scope: ${config.scope}, onLimit: ${config.onLimit}${strict})`;
}
