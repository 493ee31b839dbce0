/** The directive's name in SDL. */
export const UNIQUE_SESSION_DIRECTIVE = 'uniqueSession';

/** The `@uniqueSession` directive and its enums, for schema-first servers and for `schema.graphql`. */
export const uniqueSessionTypeDefs = /* GraphQL */ `
  directive @uniqueSession(max: Int! = 1, scope: SessionScope! = USER, onLimit: LimitPolicy! = REJECT_NEW) on FIELD_DEFINITION

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
