/**
 * `@uniqueSession` rules (DESIGN rule 6): what the directive's arguments mean and who gets a
 * lease at the limit. Plain code with no Apollo or database imports, so it reads like the design
 * and is tested alone; the lease store applies it inside its transaction.
 */
import { SessionConfigError } from './errors.js';
import { LIMIT_POLICIES, type LimitPolicy } from './options.js';

/** Whose sessions share a field's seats: one user's (`USER`) or everyone's (`APP`, licence seats). */
export type SessionScope = 'USER' | 'APP';
export const SESSION_SCOPES: readonly SessionScope[] = ['USER', 'APP'];

/** The arguments of `@uniqueSession` / `@UniqueSession()`; every one is optional. */
export interface UniqueSessionOptions {
  /** How many sessions may hold the field at once. A whole number >= 1. Default: `1`. */
  max?: number;
  /** `USER`: the limit is per user; `APP`: across the whole app. Default: `'USER'`. */
  scope?: SessionScope;
  /** What happens at the limit. Default: `'REJECT_NEW'`. */
  onLimit?: LimitPolicy;
  /**
   * Read through to the store on every use, for fields that need zero staleness. Default:
   * `false`: a holder confirmed within `leaseRecheckInterval` is served from memory.
   */
  strict?: boolean;
}

/** The arguments after defaults and validation. */
export type UniqueSessionConfig = Required<UniqueSessionOptions>;

/** The directive's SDL defaults, in one place. */
export const UNIQUE_SESSION_DEFAULTS: Readonly<UniqueSessionConfig> = Object.freeze({
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
  if (typeof input !== 'object' || Array.isArray(input)) invalid(`expected an object of arguments, got ${typeof input}.`);
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
  return { max: max as number, scope: scope as SessionScope, onLimit: onLimit as LimitPolicy, strict: strict as boolean };
}

function show(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/** The SDL of a directive application, e.g. `@uniqueSession(max: 1, scope: USER, onLimit: REJECT_NEW)`. */
export function uniqueSessionSdl(config: UniqueSessionConfig, directiveName = 'uniqueSession'): string {
  const strict = config.strict ? ', strict: true' : '';
  return `@${directiveName}(max: ${config.max}, scope: ${config.scope}, onLimit: ${config.onLimit}${strict})`;
}

/** Which leases are counted together: the user's for `USER`, everyone's (`*`) for `APP`. */
export function leaseScopeKey(scope: SessionScope, userId: string): string {
  return scope === 'APP' ? '*' : userId;
}

/** A live lease held by another session. */
export interface LeaseHolder {
  sessionId: string;
  lastUsedAt: Date;
}

export interface LeaseInput {
  max: number;
  policy: LimitPolicy;
  /** Live leases of the other sessions in the scope, least recently used first. */
  holders: readonly LeaseHolder[];
}

export type LeaseDecision =
  /** Take the lease; `evict` are the holders that lose theirs; `overLimit`: `LOG_ONLY` let it through. */
  | { outcome: 'GRANT'; evict: string[]; overLimit: boolean }
  | { outcome: 'REJECT' };

/**
 * For a caller that holds no live lease (a holder always keeps its own). Below the limit it gets
 * one; at the limit `REJECT_NEW` refuses, `EVICT_OLDEST` takes the seats of the least recently
 * used holders, `LOG_ONLY` grants and reports.
 */
export function decideLease(input: LeaseInput): LeaseDecision {
  if (input.holders.length < input.max) return { outcome: 'GRANT', evict: [], overLimit: false };
  switch (input.policy) {
    case 'REJECT_NEW':
      return { outcome: 'REJECT' };
    case 'EVICT_OLDEST':
      // More holders than max can exist (max lowered, LOG_ONLY earlier): free enough for the caller.
      return {
        outcome: 'GRANT',
        evict: input.holders.slice(0, input.holders.length - input.max + 1).map((h) => h.sessionId),
        overLimit: false,
      };
    case 'LOG_ONLY':
      return { outcome: 'GRANT', evict: [], overLimit: true };
  }
}
