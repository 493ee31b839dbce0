/**
 * The one enforcement path of `@uniqueSession`, shared by the decorator, the transformer and the
 * server adapters, and the start-up check that no governed field escapes it.
 */
import { type GraphQLField, type GraphQLResolveInfo, type GraphQLSchema, isInterfaceType, isObjectType } from 'graphql';
import { keepOutOfCaches } from '../api/cache-hints.js';
import { SessionConfigError, unauthenticated } from '../errors.js';
import { getRequestSession } from '../request-session.js';
import type { UniqueSessionConfig } from './config.js';
import { UNIQUE_SESSION_DIRECTIVE } from './type-defs.js';

/**
 * The `extensions` key that marks a field as enforced (by the decorator or the transformer) and
 * holds its validated arguments. Server start refuses `@uniqueSession` fields without it.
 */
export const UNIQUE_SESSION_EXTENSION = 'uniqueSession';

/** Schemas served by a disabled controller (`enabled: false`): their directives are inert. */
const disabledSchemas = new WeakSet<GraphQLSchema>();

/** Called by the disabled plugin at server start, so governed fields resolve as if undecorated. */
export function markSchemaDisabled(schema: GraphQLSchema): void {
  disabledSchemas.add(schema);
}

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
  if (!request) {
    if (disabledSchemas.has(info.schema)) return undefined;
    throw pluginMissing(field);
  }
  // A response cache would answer the next caller without this check, so without a seat.
  keepOutOfCaches(info);
  const { identity, session } = request;
  if (!identity) throw unauthenticated(`${field} requires a signed-in session.`, false);
  // The store was unreachable and failMode 'open' let the request through: so does the field.
  if (!session) return undefined;

  // A subscription's events share one request: each event is a use of the field, checked anew
  // (the holder's memory answers most of them).
  if (info.operation.operation === 'subscription') return request.leases.acquire(field, config, identity, session);
  // One lease check per governed field per operation, however often the field appears in it;
  // kept on the request's own record (a WeakMap entry per request costs the collector, see
  // src/request-session.ts).
  const checked = (request.leaseChecks ??= new Map());
  let pending = checked.get(field);
  if (!pending) {
    pending = request.leases.acquire(field, config, identity, session);
    checked.set(field, pending);
  }
  return pending;
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
 * SDL-first schema that was not passed through `controller.transformSchema`, or the directive on an
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
      'controller.transformSchema(schema) before giving it to ApolloServer, ' +
      'or apply the directive with the @UniqueSession() decorator in type-graphql.',
  );
}

function hasDirective(field: GraphQLField<unknown, unknown>): boolean {
  return Boolean(field.astNode?.directives?.some((d) => d.name.value === UNIQUE_SESSION_DIRECTIVE));
}
