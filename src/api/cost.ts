import {
  type DocumentNode,
  type FragmentDefinitionNode,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';

/** The session API's root fields: each one, however aliased, is at least one store query. */
const SESSION_API_FIELDS: ReadonlySet<string> = new Set([
  'activeSessions',
  'sessionStats',
  'sessionLimitRules',
  'revokeSession',
  'revokeOtherSessions',
  'revokeUserSessions',
  'setSessionLimit',
  'removeSessionLimit',
  'sessionEvents',
  'sessions',
  'sessionLeases',
  'releaseLease',
  'revokeLease',
]);

/**
 * How many times each field is selected at the root of a selection set, fragment spreads and
 * inline fragments included (each alias counts; field names, not aliases). The one walk over an
 * operation's root fields: the session API's cost reads it, and so does the start-time
 * `@uniqueSession` check of subscriptions over WebSocket. Each fragment is walked once and
 * remembered, so nested spreads cannot make the walk exponential (validation has already refused
 * cycles).
 */
export function rootFieldCounts(
  selectionSet: SelectionSetNode,
  fragments: Record<string, FragmentDefinitionNode>,
): Map<string, number> {
  const perFragment = new Map<string, Map<string, number>>();
  const walk = (selections: SelectionSetNode): Map<string, number> => {
    const counts = new Map<string, number>();
    const add = (name: string, n: number) => counts.set(name, (counts.get(name) ?? 0) + n);
    for (const selection of selections.selections) {
      if (selection.kind === Kind.FIELD) {
        add(selection.name.value, 1);
        continue;
      }
      let inner: Map<string, number> | undefined;
      if (selection.kind === Kind.INLINE_FRAGMENT) {
        inner = walk(selection.selectionSet);
      } else {
        const name = selection.name.value;
        inner = perFragment.get(name);
        if (!inner) {
          const fragment = fragments[name];
          inner = fragment ? walk(fragment.selectionSet) : new Map<string, number>();
          perFragment.set(name, inner);
        }
      }
      for (const [field, n] of inner) add(field, n);
    }
    return counts;
  };
  return walk(selectionSet);
}

/**
 * How many session API fields an operation asks for at its root (fragments and inline fragments
 * included; each alias counts). Read from the document, before anything executes, so an
 * operation over the bound is refused before any SQL runs.
 */
export function sessionApiCost(
  operation: OperationDefinitionNode,
  fragments: Record<string, FragmentDefinitionNode>,
): number {
  let total = 0;
  for (const [field, n] of rootFieldCounts(operation.selectionSet, fragments)) {
    if (SESSION_API_FIELDS.has(field)) total += n;
  }
  return total;
}

/** The document's fragment definitions by name, as the root-field walk takes them. */
export function fragmentsOf(document: DocumentNode): Record<string, FragmentDefinitionNode> {
  const fragments: Record<string, FragmentDefinitionNode> = {};
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments[definition.name.value] = definition;
  }
  return fragments;
}
