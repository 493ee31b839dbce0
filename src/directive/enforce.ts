import {
  GraphQLError,
  isInterfaceType,
  isObjectType,
  type GraphQLField,
  type GraphQLResolveInfo,
  type GraphQLSchema,
} from 'graphql';
import type { SessionController } from '../controller.js';
import { SessionConfigError, SessionErrorCode, sessionLimitExceeded, unauthenticated } from '../errors.js';
import { publicIdentity, type Identity } from '../identity.js';
import { leaseScopeKey, type UniqueSessionConfig } from '../lease-policy.js';
import { getRequestSession, type RequestSession } from '../request-session.js';
import type { StoredSession } from '../store/rows.js';
import { UNIQUE_SESSION_DIRECTIVE } from './type-defs.js';

/**
 * The `extensions` key that marks a field as enforced (by the decorator or the transformer) and
 * holds its validated arguments. Server start refuses `@uniqueSession` fields without it.
 */
export const UNIQUE_SESSION_EXTENSION = 'uniqueSession';

/** Schemas served by a disabled controller (`enabled: false`): their directives are inert. */
const inertSchemas = new WeakSet<GraphQLSchema>();

/** Called by the disabled plugin at server start, so governed fields resolve as if undecorated. */
export function markSchemaInert(schema: GraphQLSchema): void {
  inertSchemas.add(schema);
}

/** One lease check per governed field per operation, however often the field appears in it. */
const checkedByRequest = new WeakMap<RequestSession, Map<string, Promise<void>>>();

/**
 * The single enforcement path of `@uniqueSession`, shared by the type-graphql decorator and the
 * schema transformer. Returns `undefined` when the field may resolve at once (directive inert),
 * else a promise that settles when the lease is held, or rejects with the field's error.
 */
export function checkUniqueSession(
  config: UniqueSessionConfig,
  field: string,
  contextValue: unknown,
  info: GraphQLResolveInfo,
): Promise<void> | undefined {
  const request = getRequestSession(contextValue);
  if (!request?.controller) {
    if (inertSchemas.has(info.schema)) return undefined;
    throw pluginMissing(field);
  }
  const { identity, session, controller } = request;
  if (!identity) throw unauthenticated(`${field} requires a signed-in session.`, false);
  // The store was unreachable and failMode 'open' let the request through: so does the field.
  if (!session) return undefined;
  if (session.exempt && controller.options.exemptFromLeases) return undefined;

  let checked = checkedByRequest.get(request);
  if (!checked) checkedByRequest.set(request, (checked = new Map()));
  let pending = checked.get(field);
  if (!pending) {
    pending = acquire(controller, config, field, identity, session);
    checked.set(field, pending);
  }
  return pending;
}

async function acquire(
  controller: SessionController,
  config: UniqueSessionConfig,
  field: string,
  identity: Identity,
  session: StoredSession,
): Promise<void> {
  const scopeKey = leaseScopeKey(config.scope, session.userId);
  const memory = controller.leaseMemory;
  if (!config.strict && memory.isConfirmed(field, scopeKey, session.id)) return;
  let result;
  try {
    result = await controller.guard(
      'lease',
      () =>
        controller.leases.acquire({
          field,
          scopeKey,
          sessionId: session.id,
          max: config.max,
          policy: config.onLimit,
        }),
      () => null,
    );
  } catch (error) {
    throw asFieldError(error);
  }
  if (result === null) return;
  if (result.kind !== 'REJECTED') memory.confirm(field, scopeKey, session.id);
  if (result.kind === 'GRANTED') memory.forget(field, scopeKey, result.evicted);
  if (result.kind === 'HELD') return;
  const event = { identity: publicIdentity(identity), level: 'VIEW' as const, limit: config.max, field };
  if (result.kind === 'REJECTED') {
    controller.callHook(() => controller.options.onReject(event));
    throw sessionLimitExceeded('VIEW', config.max, field);
  }
  if (result.overLimit) controller.callHook(() => controller.options.onReject({ ...event, allowed: true }));
}

/**
 * A store outage on one field is a field error like a refusal: the rest of the operation keeps
 * its data and its 200, instead of the request-level 503 the error carries for the plugin.
 */
function asFieldError(error: unknown): unknown {
  if (!(error instanceof GraphQLError) || error.extensions.code !== SessionErrorCode.SESSION_STORE_UNAVAILABLE) {
    return error;
  }
  const { http: _status, ...extensions } = error.extensions;
  return new GraphQLError(error.message, { extensions });
}

/** A host wiring mistake; Apollo reports it as the field's INTERNAL_SERVER_ERROR. */
function pluginMissing(field: string): SessionConfigError {
  return new SessionConfigError(
    `${field} is governed by @uniqueSession, but the request did not pass through the session plugin: ` +
      'add controller.plugin() to the ApolloServer plugins.',
  );
}

/**
 * Refuses, at server start, a schema whose `@uniqueSession` fields would not be enforced: an
 * SDL-first schema that was not passed through `uniqueSessionTransformer`, or the directive on an
 * interface field (resolvers live on object types).
 */
export function assertUniqueSessionEnforced(schema: GraphQLSchema): void {
  for (const type of Object.values(schema.getTypeMap())) {
    if (type.name.startsWith('__') || !(isObjectType(type) || isInterfaceType(type))) continue;
    for (const field of Object.values(type.getFields())) {
      if (!hasDirective(field)) continue;
      if (isObjectType(type)) {
        if (!field.extensions?.[UNIQUE_SESSION_EXTENSION]) throw notEnforced(`${type.name}.${field.name}`);
        continue;
      }
      // On an interface, the directive only counts if every implementation enforces it.
      for (const implementation of schema.getPossibleTypes(type)) {
        const implemented = implementation.getFields()[field.name];
        if (!implemented?.extensions?.[UNIQUE_SESSION_EXTENSION]) {
          throw new SessionConfigError(
            `@uniqueSession on the interface field ${type.name}.${field.name} is not enforced on ` +
              `${implementation.name}.${field.name}: put the directive on the object types' fields too ` +
              '(resolvers, and so enforcement, live there).',
          );
        }
      }
    }
  }
}

function notEnforced(coordinate: string): SessionConfigError {
  return new SessionConfigError(
    `${coordinate} has @uniqueSession but nothing enforces it: pass the executable schema through ` +
      'uniqueSessionTransformer(schema) (or controller.transformSchema(schema)) before giving it to ApolloServer, ' +
      'or apply the directive with the @UniqueSession() decorator in type-graphql.',
  );
}

function hasDirective(field: GraphQLField<unknown, unknown>): boolean {
  return Boolean(field.astNode?.directives?.some((d) => d.name.value === UNIQUE_SESSION_DIRECTIVE));
}
