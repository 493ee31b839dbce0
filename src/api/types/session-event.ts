/** `sessionEvents` as type-graphql classes: what happened to one of the caller's sessions. */
import 'reflect-metadata';
import { ArgsType, Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import type { SessionEventView } from '../views.js';
import { UserSession } from './user-session.js';

/** What happened to a session. */
export enum SessionEventType {
  ADMITTED = 'ADMITTED',
  REVOKED = 'REVOKED',
  EXPIRED = 'EXPIRED',
}

registerEnumType(SessionEventType, {
  name: 'SessionEventType',
  description: 'What happened to a session.',
  valuesConfig: {
    ADMITTED: { description: 'A new sign-in on the account.' },
    REVOKED: { description: 'Ended by logout, eviction or a revoke mutation; reason says which.' },
    EXPIRED: {
      description: 'Idle longer than the idle timeout, or older than the absolute timeout; reason says which.',
    },
  },
});

@ObjectType('SessionEvent', { description: 'Something that happened to one of the sessions a subscriber may see.' })
export class SessionEvent implements SessionEventView {
  @Field(() => SessionEventType, { nullable: false })
  type!: SessionEventType;

  @Field(() => UserSession, { nullable: false, description: 'The session, as it is now.' })
  session!: UserSession;

  @Field(() => String, {
    nullable: true,
    description: 'REVOKED: EVICTED, REVOKED, ADMIN_REVOKED or LOGOUT; EXPIRED: IDLE or ABSOLUTE; null for ADMITTED.',
  })
  reason!: string | null;
}

@ArgsType()
export class SessionEventsArgs {
  @Field(() => ID, {
    nullable: true,
    description: "Whose sessions: omitted = the caller's own; another user's = admins only.",
  })
  userId?: string | null;
}
