/** The `@uniqueSession` directive's SDL, in one place for the printed schema and the transformer. */
import { buildSchema, type GraphQLDirective } from 'graphql';

/** The directive's name in SDL. */
export const UNIQUE_SESSION_DIRECTIVE = 'uniqueSession';

/** The `@uniqueSession` directive and its enums, for schema-first servers and for `schema.graphql`. */
export const uniqueSessionTypeDefs = /* GraphQL */ `
  directive @uniqueSession(max: Int! = 1, scope: SessionScope! = USER, onLimit: LimitPolicy! = REJECT_NEW, strict: Boolean! = false) on FIELD_DEFINITION

  enum SessionScope {
    USER
    APP
  }

  enum LimitPolicy {
    REJECT_NEW
    EVICT_OLDEST
    LOG_ONLY
  }
`;

/**
 * The same definition as a `GraphQLDirective` (its enums come with it), for code-first schemas:
 * type-graphql's `buildSchema({ directives: [...specifiedDirectives, uniqueSessionDirective] })`
 * makes the emitted `schema.graphql` define the directive that `@UniqueSession()` applies.
 */
export const uniqueSessionDirective: GraphQLDirective =
  buildSchema(uniqueSessionTypeDefs).getDirective(UNIQUE_SESSION_DIRECTIVE)!;
