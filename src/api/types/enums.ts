/** The session API's enums as type-graphql registers them, with the values of the contract. */
import 'reflect-metadata';
import { registerEnumType } from 'type-graphql';

/** A session's derived status (docs/contract.md §2), by the database clock. */
export enum SessionStatus {
  ACTIVE = 'ACTIVE',
  REVOKED = 'REVOKED',
  EXPIRED = 'EXPIRED',
}

/** What a stored limit rule applies to. */
export enum LimitSubject {
  USER = 'USER',
  GROUP = 'GROUP',
}

registerEnumType(SessionStatus, {
  name: 'SessionStatus',
  description: "A session's status, derived with the database clock.",
  valuesConfig: {
    ACTIVE: { description: 'Neither revoked nor expired: requests with its key proceed.' },
    REVOKED: { description: 'Ended by logout, eviction or a revoke mutation; see revokedReason.' },
    EXPIRED: { description: 'Idle longer than the idle timeout, or older than the absolute timeout.' },
  },
});

registerEnumType(LimitSubject, {
  name: 'LimitSubject',
  description: 'What a stored limit rule applies to.',
  valuesConfig: {
    USER: { description: 'One user, by user id. Wins over group rules.' },
    GROUP: {
      description:
        "A group, by name: applies to identities whose groups include it (the most permissive of a user's group rules wins).",
    },
  },
});
