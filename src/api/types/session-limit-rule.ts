/** `SessionLimitRule` as a type-graphql class: a stored per-user or per-group limit. */
import 'reflect-metadata';
import { Field, Int, ObjectType } from 'type-graphql';
import { LimitSubject } from './enums.js';

@ObjectType('SessionLimitRule', {
  description: 'A stored per-user or per-group session limit. It applies from the next admission, on every instance.',
})
export class SessionLimitRule {
  @Field(() => LimitSubject, { nullable: false })
  subjectType!: LimitSubject;

  @Field(() => String, { nullable: false, description: 'The user id or the group name.' })
  subject!: string;

  @Field(() => Int, { nullable: true, description: 'Concurrent active sessions allowed; null = unlimited.' })
  maxSessions!: number | null;
}
