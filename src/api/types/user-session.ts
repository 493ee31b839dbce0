import 'reflect-metadata';
import { GraphQLDateTimeISO } from 'graphql-scalars';
import { Field, ID, ObjectType } from 'type-graphql';
import type { SessionInfo } from '../../events.js';
import { expiresAt, sessionState, type Timeouts } from '../../policy.js';
import { SessionStatus } from './enums.js';

/** One session as the API shows it: never its key nor the key's digest. */
@ObjectType('UserSession', { description: 'One session of a user. Its key is never shown.' })
export class UserSession {
  @Field(() => ID, { nullable: false, description: "The session's public id (a UUID)." })
  id!: string;

  @Field(() => ID, { nullable: false })
  userId!: string;

  @Field(() => SessionStatus, { nullable: false })
  status!: SessionStatus;

  @Field(() => Boolean, { nullable: false, description: "Whether this is the caller's own session, the one making this request." })
  current!: boolean;

  @Field(() => GraphQLDateTimeISO, { nullable: false })
  createdAt!: Date;

  @Field(() => GraphQLDateTimeISO, { nullable: false, description: 'When the session was last used (updated at most every touchInterval).' })
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

  @Field(() => String, { nullable: true, description: 'Why it was revoked: EVICTED, REVOKED, ADMIN_REVOKED or LOGOUT.' })
  revokedReason!: string | null;

  @Field(() => String, { nullable: true, description: 'The free-text reason given to the revoke mutation, if any.' })
  revokedNote!: string | null;

  /**
   * The API's view of a stored session. `now` is the clock the status is derived with (the
   * database's, e.g. `controller.dbNow()`); `status` may be given when the database already decided it.
   */
  static from(
    session: SessionInfo,
    current: boolean,
    timeouts: Timeouts,
    now: number = Date.now(),
    status: SessionStatus = SessionStatus[sessionState(session, now, timeouts).status],
  ): UserSession {
    return Object.assign(new UserSession(), {
      id: session.id,
      userId: session.userId,
      status,
      current,
      createdAt: session.createdAt,
      lastSeenAt: session.lastSeenAt,
      expiresAt: status === SessionStatus.REVOKED ? null : expiresAt(session, timeouts),
      ipAddress: session.ipAddress,
      userAgent: session.userAgent,
      revokedAt: session.revokedAt,
      revokedReason: session.revokedReason,
      revokedNote: session.revokedNote,
    });
  }
}
