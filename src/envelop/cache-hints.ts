/**
 * Keeps what the library governs out of envelop's response cache (`@graphql-yoga/plugin-response-cache`,
 * `@envelop/response-cache`), whatever the host's cache options (docs/contract.md §14). That cache
 * decides what to store from the schema alone, when the server starts: a query's lifetime is the
 * least `@cacheControl(maxAge)` of the fields and types it touches, and `maxAge: 0` means "never
 * stored". It has no per-resolver hint (Apollo's `info.cacheControl`, src/api/cache-hints.ts), so
 * the served schema carries the hints: on the session API's query fields and object types, and on
 * every `@uniqueSession` field (a hit would skip its seat).
 */
import {
  DirectiveLocation,
  type FieldDefinitionNode,
  GraphQLDirective,
  GraphQLEnumType,
  type GraphQLField,
  GraphQLInt,
  type GraphQLSchema,
} from 'graphql';
import { markLibraryTypesNotCacheable, NOT_CACHEABLE } from '../api/cache-hints.js';
import { SESSION_API_FIELDS } from '../api/cost.js';
import { UNIQUE_SESSION_EXTENSION } from '../directive/enforce.js';

const CACHE_CONTROL = 'cacheControl';

/**
 * The response cache reads no hint at all from a schema that does not define `@cacheControl`
 * (and would then store everything): such a schema is given this definition, through
 * `getDirective` only, so that introspection and the host's SDL stay as they were.
 */
const unlistedCacheControl = new GraphQLDirective({
  name: CACHE_CONTROL,
  locations: [DirectiveLocation.FIELD_DEFINITION, DirectiveLocation.OBJECT],
  args: {
    maxAge: { type: GraphQLInt },
    scope: { type: new GraphQLEnumType({ name: 'CacheControlScope', values: { PUBLIC: {}, PRIVATE: {} } }) },
  },
});

const marked = new WeakSet<GraphQLSchema>();

/**
 * Hints the governed parts of `schema` not cacheable. Called by the envelop plugin when the server
 * sets its schema, before the response cache reads it (the plugin is listed first). `seats`:
 * whether `@uniqueSession` fields are governed (not behind the kill switch).
 */
export function markGovernedNotCacheable(schema: GraphQLSchema, seats: boolean): void {
  if (marked.has(schema)) return;
  marked.add(schema);
  const query = schema.getQueryType();
  // The same test as for the types: these names are the library's when it serves its API.
  const servesApi = Boolean(query?.getFields().activeSessions);
  let hinted = false;
  if (servesApi) {
    markLibraryTypesNotCacheable(schema);
    for (const field of Object.values(query!.getFields())) {
      if (SESSION_API_FIELDS.has(field.name)) hinted = hintNotCacheable(field);
    }
  }
  if (seats) {
    for (const type of Object.values(schema.getTypeMap())) {
      if (type.name.startsWith('__') || !('getFields' in type)) continue;
      for (const field of Object.values(type.getFields()) as GraphQLField<unknown, unknown>[]) {
        if (field.extensions?.[UNIQUE_SESSION_EXTENSION]) hinted = hintNotCacheable(field);
      }
    }
  }
  if (hinted && !schema.getDirective(CACHE_CONTROL)) {
    const own = schema.getDirective.bind(schema);
    schema.getDirective = (name) => (name === CACHE_CONTROL ? unlistedCacheControl : own(name));
  }
}

/**
 * The field's only `@cacheControl` becomes `maxAge: 0`: a host's own hint on it (in SDL) is
 * dropped, since the cache would take the last hint it reads.
 */
function hintNotCacheable(field: GraphQLField<unknown, unknown>): true {
  const writable = field as { extensions: Record<string, any>; astNode?: FieldDefinitionNode | null };
  const { extensions, astNode } = writable;
  writable.extensions = {
    ...extensions,
    directives: {
      ...extensions.directives,
      [CACHE_CONTROL]: [{ maxAge: NOT_CACHEABLE.maxAge, scope: NOT_CACHEABLE.scope }],
    },
  };
  if (astNode?.directives?.some((directive) => directive.name.value === CACHE_CONTROL)) {
    writable.astNode = {
      ...astNode,
      directives: astNode.directives.filter((directive) => directive.name.value !== CACHE_CONTROL),
    };
  }
  return true;
}
