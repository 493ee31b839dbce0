/** `SessionLease` as a type-graphql class: a session's seat on a `@uniqueSession` field, for operators. */
import 'reflect-metadata';
import { GraphQLDateTimeISO } from 'graphql-scalars';
import { Field, ObjectType } from 'type-graphql';
import type { SessionLeaseView } from '../views.js';
import { UserSession } from './user-session.js';

@ObjectType('SessionLease', { description: "A session's seat on a @uniqueSession field." })
export class SessionLease implements SessionLeaseView {
  @Field(() => String, { nullable: false, description: 'The governed field, Type.field (e.g. Query.exam).' })
  field!: string;

  // A string, not the directive's SessionScope enum: a type-graphql schema that also defines the
  // directive (uniqueSessionDirective) would then hold two enums of that name.
  @Field(() => String, {
    nullable: false,
    description: "The directive's scope: USER (seats per user) or APP (seats in the whole app).",
  })
  scope!: 'USER' | 'APP';

  @Field(() => UserSession, { nullable: false, description: 'The session holding the seat.' })
  session!: UserSession;

  @Field(() => GraphQLDateTimeISO, { nullable: false, description: 'When the session took the seat.' })
  acquiredAt!: Date;

  @Field(() => GraphQLDateTimeISO, {
    nullable: false,
    description: 'When the session last used the field (the seat lapses leaseTtl after).',
  })
  lastUsedAt!: Date;
}
