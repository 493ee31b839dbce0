/** `UserSession` as a type-graphql class: one session as the API shows it, never its key. */
import 'reflect-metadata';
import { GraphQLDateTimeISO } from 'graphql-scalars';
import { Field, ID, ObjectType } from 'type-graphql';
import type { UserSessionView } from '../views.js';
import { SessionStatus } from './enums.js';
import { SessionDevice } from './session-device.js';

/** One session as the API shows it: never its key nor the key's digest. */
@ObjectType('UserSession', { description: 'One session of a user. Its key is never shown.' })
export class UserSession implements UserSessionView {
  @Field(() => ID, { nullable: false, description: "The session's public id (a UUID)." })
  id!: string;

  @Field(() => ID, { nullable: false })
  userId!: string;

  @Field(() => SessionStatus, { nullable: false })
  status!: SessionStatus;

  @Field(() => Boolean, {
    nullable: false,
    description: "Whether this is the caller's own session, the one making this request.",
  })
  current!: boolean;

  @Field(() => GraphQLDateTimeISO, { nullable: false })
  createdAt!: Date;

  @Field(() => GraphQLDateTimeISO, {
    nullable: false,
    description: 'When the session was last used (updated at most every touchInterval).',
  })
  lastSeenAt!: Date;

  @Field(() => GraphQLDateTimeISO, {
    nullable: true,
    description: 'When the session expires if it is not used again; null if it never expires (or is revoked).',
  })
  expiresAt!: Date | null;

  @Field(() => String, { nullable: true })
  ipAddress!: string | null;

  @Field(() => String, { nullable: true })
  userAgent!: string | null;

  @Field(() => GraphQLDateTimeISO, { nullable: true })
  revokedAt!: Date | null;

  @Field(() => String, {
    nullable: true,
    description: 'Why it was revoked: EVICTED, REVOKED, ADMIN_REVOKED or LOGOUT.',
  })
  revokedReason!: string | null;

  @Field(() => String, { nullable: true, description: 'The free-text reason given to the revoke mutation, if any.' })
  revokedNote!: string | null;

  @Field(() => ID, {
    nullable: true,
    description:
      'The user id of the caller that revoked it; null for evictions, expiry and revocations without a caller.',
  })
  revokedBy!: string | null;

  @Field(() => SessionDevice, { nullable: true, description: 'Read from userAgent; null if none was recorded.' })
  device!: SessionDevice | null;
}
