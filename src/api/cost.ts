import { Kind, type FragmentDefinitionNode, type OperationDefinitionNode, type SelectionSetNode } from 'graphql';

/** The session API's root fields: each one, however aliased, is at least one store query. */
export const SESSION_API_FIELDS: ReadonlySet<string> = new Set([
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
 * How many session API fields an operation asks for at its root (fragments and inline fragments
 * included; each alias counts). Read from the document, before anything executes, so an
 * operation over the bound is refused before any SQL runs.
 */
export function sessionApiCost(
  operation: OperationDefinitionNode,
  fragments: Record<string, FragmentDefinitionNode>,
): number {
  // Each fragment is counted once and remembered: nested spreads cannot make the walk exponential
  // (validation has already refused cycles).
  const perFragment = new Map<string, number>();
  const count = (selections: SelectionSetNode): number => {
    let total = 0;
    for (const selection of selections.selections) {
      if (selection.kind === Kind.FIELD) {
        if (SESSION_API_FIELDS.has(selection.name.value)) total++;
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        total += count(selection.selectionSet);
      } else {
        const name = selection.name.value;
        let cost = perFragment.get(name);
        if (cost === undefined) {
          const fragment = fragments[name];
          cost = fragment ? count(fragment.selectionSet) : 0;
          perFragment.set(name, cost);
        }
        total += cost;
      }
    }
    return total;
  };
  return count(operation.selectionSet);
}
