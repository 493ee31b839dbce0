/**
 * Keeps what the library resolves out of shared caches (docs/contract.md §15): Apollo's
 * cache-control hints, set from resolvers and on the library's types in the served schema, so
 * that a host's schema needs no `@cacheControl` directive definition and `schema.graphql` is
 * unchanged. A response cache answers a hit without running any resolver, so without the
 * authorization and seats that live there: sessions, seats and admin views are never cacheable.
 */
import {
  type ConstDirectiveNode,
  type GraphQLResolveInfo,
  type GraphQLSchema,
  isObjectType,
  Kind,
  type ObjectTypeExtensionNode,
} from 'graphql';

/** Apollo's cache hint: `maxAge: 0` makes a response uncacheable (`Cache-Control: no-store`). */
const NOT_CACHEABLE = Object.freeze({ maxAge: 0, scope: 'PRIVATE' as const });

/** What Apollo's cache-control plugin adds to `info` (absent under other servers). */
interface CacheControlInfo {
  cacheControl?: { setCacheHint(hint: { maxAge?: number; scope?: 'PUBLIC' | 'PRIVATE' }): void };
}

/** Hints the field being resolved as not cacheable. A no-op where no cache-control plugin runs. */
export function keepOutOfCaches(info: GraphQLResolveInfo): void {
  (info as GraphQLResolveInfo & CacheControlInfo).cacheControl?.setCacheHint(NOT_CACHEABLE);
}

/** The session API's object types: wherever a host returns one, the field is not cacheable. */
const LIBRARY_TYPES = [
  'UserSession',
  'UserSessionConnection',
  'UserSessionEdge',
  'SessionPageInfo',
  'SessionDevice',
  'SessionStats',
  'SessionLimitRule',
  'SessionLease',
  'SessionEvent',
];

/** The type-level hint as Apollo's cache-control plugin reads it: a directive on a type's AST. */
const hintDirective: ConstDirectiveNode = {
  kind: Kind.DIRECTIVE,
  name: { kind: Kind.NAME, value: 'cacheControl' },
  arguments: [
    {
      kind: Kind.ARGUMENT,
      name: { kind: Kind.NAME, value: 'maxAge' },
      value: { kind: Kind.INT, value: String(NOT_CACHEABLE.maxAge) },
    },
    {
      kind: Kind.ARGUMENT,
      name: { kind: Kind.NAME, value: 'scope' },
      value: { kind: Kind.ENUM, value: NOT_CACHEABLE.scope },
    },
  ],
};

/**
 * Marks the session API's object types in a served schema as not cacheable, so that a host's own
 * field returning one (e.g. `me { session: UserSession }`) is not cached either. Called by the
 * plugin at server start. Only when the schema serves the session API (`Query.activeSessions`):
 * then these names are the library's (GraphQL names are unique), never a host type of the same
 * name. The hint is added as a type extension node, which Apollo reads and `printSchema` ignores.
 */
export function markLibraryTypesNotCacheable(schema: GraphQLSchema): void {
  if (!schema.getQueryType()?.getFields().activeSessions) return;
  for (const name of LIBRARY_TYPES) {
    const type = schema.getType(name);
    if (!isObjectType(type)) continue;
    const extensions = type.extensionASTNodes as ObjectTypeExtensionNode[];
    if (extensions.some((node) => node.directives?.includes(hintDirective))) continue;
    const marked: ObjectTypeExtensionNode = {
      kind: Kind.OBJECT_TYPE_EXTENSION,
      name: { kind: Kind.NAME, value: name },
      directives: [hintDirective],
    };
    // graphql-js keeps the array it was given; Apollo's plugin reads it per request.
    (type as { extensionASTNodes: readonly ObjectTypeExtensionNode[] }).extensionASTNodes = [...extensions, marked];
  }
}
